"""The store's statements, once, for every SQL backend (the first half; ``sql`` has renders and
turns): ``SQLStore`` implements ``StateStore`` over a database that runs them (SQLite, PostgreSQL).

Statements are written once in the portable subset both databases speak (``INSERT ... ON
CONFLICT``, partial indexes); parameters are ``?`` or ``:name`` (PostgreSQL's adapter rewrites
them). Every statement is scoped by ``owner``, the user the store speaks for: an embedded store
has one user (``local``); a hosted one opens a view per user (``for_owner``) over one database.
Checks that must hold across processes (one running turn, one export per timeline, one poller
per render) are single statements or one serialised transaction, never an in-process lock.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, Self, TypeVar

from nemo_mcp.redact import register_secret
from nemo_mcp.store import schema
from nemo_mcp.store.base import StateStore
from nemo_mcp.store.records import (
    Credential,
    CredentialSource,
    SessionRecord,
)

log = logging.getLogger(__name__)

_R = TypeVar("_R")
Row = Mapping[str, Any]
Params = tuple[Any, ...] | dict[str, Any]

_SESSION_COLUMNS = (*schema.SESSION_FIELDS, "owner")
_INSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(_SESSION_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _SESSION_COLUMNS)}) "
)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Params = ...) -> Cursor: ...


class SQLBase(StateStore):
    """``StateStore`` in SQL, scoped to ``self.owner``: identity, credentials, sessions and what
    the rest shares (``sql.SQLStore`` adds renders and turns); subclasses supply the database."""

    owner: str = schema.LOCAL_OWNER
    _tiebreak = "rowid"  # orders rows created in the same instant: the insertion order
    _view = False  # a view of another store's database (``for_owner``): close leaves it open

    # --- what a database supplies ---------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Params = ()) -> Cursor: ...

    @abstractmethod
    def _one(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    def _all(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    def _transaction(self, serialise: str | None = None) -> AbstractContextManager[Connection]:
        """One write transaction; ``serialise`` names what concurrent transactions on the same
        thing must queue for (the database's write lock on SQLite, an advisory lock on
        PostgreSQL), so what is read inside cannot change before the writes commit."""

    def for_owner(self, owner: str) -> Self:
        """The same database seen as another user's store (hosted mode: one view per user)."""
        view = copy.copy(self)
        view.owner = owner
        view._view = True
        return view

    # --- identity -------------------------------------------------------------------------
    def _client_id_key(self) -> str:
        return "client_id" if self.owner == schema.LOCAL_OWNER else f"client_id:{self.owner}"

    def get_client_id(self, create: bool = True) -> str | None:
        key = self._client_id_key()
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        if row is not None:
            return str(row["value"])
        if not create:
            return None
        self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (key, str(uuid.uuid4())),
        )
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row["value"]) if row is not None else None

    def set_client_id(self, value: str) -> None:
        self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (self._client_id_key(), value),
        )

    def first_use(self, key: str) -> bool:
        """True the first time ``key`` is used, by any process, ever (one-time tickets)."""
        cur = self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (f"used:{self.owner}:{key}", str(time.time())),
        )
        return cur.rowcount > 0

    def forget_use(self, key: str) -> None:
        self._execute("DELETE FROM meta WHERE key = ?", (f"used:{self.owner}:{key}",))

    # --- credentials ----------------------------------------------------------------------
    def _seal(self, token: str) -> str:
        """The token as kept at rest (a hosted store encrypts it)."""
        return token

    def _unseal(self, stored: str) -> str:
        return stored

    def load_credential(self, api_url: str) -> Credential | None:
        row = self._one(
            "SELECT * FROM credentials WHERE owner = ? AND api_url = ?",
            (self.owner, schema.normalise_api_url(api_url)),
        )
        if row is None:
            return None
        token = self._unseal(row["token"])
        register_secret(token)
        source: CredentialSource = "login" if row["source"] == "login" else "anonymous"
        return Credential(
            token=token,
            user_id=row["user_id"],
            expires_at=row["expires_at"],
            credits=row["credits"],
            source=source,
            obtained_at=row["obtained_at"],
        )

    def save_credential(self, api_url: str, cred: Credential) -> None:
        register_secret(cred.token)
        self._execute(
            "INSERT INTO credentials "
            "(owner, api_url, token, user_id, expires_at, credits, source, obtained_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, api_url) DO UPDATE SET "
            "token = excluded.token, user_id = excluded.user_id, "
            "expires_at = excluded.expires_at, credits = excluded.credits, "
            "source = excluded.source, obtained_at = excluded.obtained_at",
            (
                self.owner,
                schema.normalise_api_url(api_url),
                self._seal(cred.token),
                cred.user_id,
                cred.expires_at,
                cred.credits,
                cred.source,
                cred.obtained_at,
            ),
        )
        self._saved_secret()

    def _saved_secret(self) -> None:
        """Called after a token is written (the SQLite file is re-made private)."""

    def clear_credential(self, api_url: str, *, only_token: str | None = None) -> bool:
        url = schema.normalise_api_url(api_url)
        where, params = "owner = ? AND api_url = ?", [self.owner, url]
        if only_token is not None:  # compare-and-delete: keep a fresh token another just stored
            row = self._one(f"SELECT token FROM credentials WHERE {where}", tuple(params))
            if row is None or self._unseal(row["token"]) != only_token:
                return False
            where, params = where + " AND token = ?", [*params, row["token"]]
        return self._execute(f"DELETE FROM credentials WHERE {where}", tuple(params)).rowcount > 0

    # --- sessions -------------------------------------------------------------------------
    @staticmethod
    def _session(row: Row) -> SessionRecord:
        values = {name: row[name] for name in schema.SESSION_FIELDS}
        return SessionRecord(**{**values, "gone": bool(values["gone"])})

    def _session_values(self, rec: SessionRecord) -> tuple[Any, ...]:
        row = {
            **{name: getattr(rec, name) for name in schema.SESSION_FIELDS},
            "session_id": str(rec.session_id),
            "api_url": schema.normalise_api_url(rec.api_url),
            "gone": int(rec.gone),
            "owner": self.owner,
        }
        return tuple(row[name] for name in _SESSION_COLUMNS)

    def save_session(self, rec: SessionRecord) -> None:
        self._execute(
            _INSERT_SESSION + "ON CONFLICT (session_id) DO UPDATE SET task_id = excluded.task_id, "
            "api_url = excluded.api_url, language = excluded.language, title = excluded.title, "
            "user_id = excluded.user_id, created_at = excluded.created_at, gone = excluded.gone, "
            "last_state = COALESCE(excluded.last_state, sessions.last_state) "
            "WHERE sessions.owner = excluded.owner",
            self._session_values(rec),
        )

    def get_session(self, session_id: str) -> SessionRecord | None:
        row = self._one(
            "SELECT * FROM sessions WHERE session_id = ? AND owner = ?",
            (str(session_id), self.owner),
        )
        return self._session(row) if row is not None else None

    def list_sessions(self, api_url: str) -> list[SessionRecord]:
        rows = self._all(
            "SELECT * FROM sessions WHERE api_url = ? AND owner = ? "
            f"ORDER BY created_at DESC, {self._tiebreak_of('session_id')} DESC",
            (schema.normalise_api_url(api_url), self.owner),
        )
        return [self._session(r) for r in rows]

    def _tiebreak_of(self, key: str) -> str:
        return self._tiebreak if self._tiebreak == "rowid" else key

    def _set_current(self, conn: Connection, url: str, session_id: str) -> None:
        conn.execute(
            "INSERT INTO current_session (owner, api_url, session_id) VALUES (?, ?, ?) "
            "ON CONFLICT (owner, api_url) DO UPDATE SET session_id = excluded.session_id",
            (self.owner, url, session_id),
        )

    def set_current_session(self, api_url: str, session_id: str | None) -> None:
        url = schema.normalise_api_url(api_url)
        with self._transaction() as conn:
            if session_id is None:
                conn.execute(
                    "DELETE FROM current_session WHERE owner = ? AND api_url = ?", (self.owner, url)
                )
            else:
                self._set_current(conn, url, str(session_id))

    _CURRENT = (
        "SELECT s.* FROM current_session c JOIN sessions s "
        "ON s.session_id = c.session_id AND s.owner = c.owner "
        "WHERE c.owner = ? AND c.api_url = ?"
    )

    def adopt_session(self, rec: SessionRecord) -> SessionRecord:
        """Make ``rec`` current unless another live session is current, atomically (see the
        interface): the first of two callers wins, the other gets the winner back."""
        url = schema.normalise_api_url(rec.api_url)
        with self._transaction(serialise=f"current:{self.owner}:{url}") as conn:
            row = conn.execute(self._CURRENT + " AND s.gone = 0", (self.owner, url)).fetchone()
            if row is not None:
                return self._session(row)
            conn.execute(
                _INSERT_SESSION + "ON CONFLICT (session_id) DO NOTHING", self._session_values(rec)
            )
            self._set_current(conn, url, str(rec.session_id))
        return rec

    def current_session(self, api_url: str) -> SessionRecord | None:
        row = self._one(self._CURRENT, (self.owner, schema.normalise_api_url(api_url)))
        return self._session(row) if row is not None else None

    def mark_session_gone(self, session_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE sessions SET gone = 1 WHERE session_id = ? AND owner = ?",
                (str(session_id), self.owner),
            )
            conn.execute(
                "DELETE FROM current_session WHERE session_id = ? AND owner = ?",
                (str(session_id), self.owner),
            )

    def update_session_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Keep the session's last state, within ``MAX_STORED_STATE_BYTES`` (see ``schema``).
        A state read again unchanged (every ``nemo_get_state`` stores what it read) writes
        nothing: on PostgreSQL each rewrite left a dead copy of the whole row behind."""
        text = schema.state_text(state)
        if text is None:
            log.info("a session state too large to keep was not stored")
            return
        self._execute(
            "UPDATE sessions SET last_state = ? WHERE session_id = ? AND owner = ? "
            "AND (last_state IS NULL OR last_state <> ?)",
            (text, str(session_id), self.owner, text),
        )

    # --- shared list and update -----------------------------------------------------------
    def _list(
        self, table: str, key: str, session_id: str | None, statuses: Iterable[str] | None
    ) -> list[Row]:
        """This user's rows of ``table`` newest first, optionally one session's, in
        ``statuses``."""
        where, params = ["owner = ?"], [self.owner]
        if session_id is not None:
            where.append("session_id = ?")
            params.append(str(session_id))
        if statuses is not None:
            wanted = list(statuses)
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        sql = f"SELECT * FROM {table} WHERE {' AND '.join(where)}"
        order = f" ORDER BY created_at DESC, {self._tiebreak_of(key)} DESC"
        return self._all(sql + order, tuple(params))

    def _update(
        self,
        table: str,
        key: str,
        key_value: str,
        allowed: tuple[str, ...],
        fields: dict[str, Any],
        reload: Callable[[str], _R],
    ) -> _R:
        unknown = set(fields) - set(allowed) - {key}
        if unknown or key in fields:
            bad = ", ".join(sorted(unknown | ({key} & set(fields))))
            raise TypeError(f"cannot update {table} field(s): {bad}")
        fields = schema.scrub(dict(fields))
        fields.setdefault("updated_at", time.time())
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        params = {**fields, "_key": key_value, "_owner": self.owner}
        self._execute(
            f"UPDATE {table} SET {assignments} WHERE {key} = :_key AND owner = :_owner", params
        )
        return reload(key_value)
