"""The embedded store: one SQLite database in the state folder, shared by every nemo-mcp process
of a user (see :mod:`nemo_mcp.store.sqlite_db` for how it stays consistent across processes).

Starting a chat turn is a single atomic step (``claim_turn``): the duplicate check, the busy check
and the record happen in one write transaction, and a partial unique index allows one running turn
per session, so two processes (or two parallel calls) can never both send a message.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from typing import Any

from nemo_mcp import constants
from nemo_mcp.errors import StoreError
from nemo_mcp.redact import register_secret
from nemo_mcp.store import schema
from nemo_mcp.store.base import StateStore
from nemo_mcp.store.locks import StoreLock
from nemo_mcp.store.records import (
    Credential,
    CredentialSource,
    RenderRecord,
    SessionRecord,
    TurnClaim,
    TurnRecord,
)
from nemo_mcp.store.sqlite_db import SQLiteDatabase

log = logging.getLogger(__name__)

_INSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(schema.SESSION_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in schema.SESSION_FIELDS)}) "
)


def _session_values(rec: SessionRecord) -> tuple[Any, ...]:
    """A session record as its row, in the order of ``schema.SESSION_FIELDS``."""
    row = {
        **{name: getattr(rec, name) for name in schema.SESSION_FIELDS},
        "session_id": str(rec.session_id),
        "api_url": schema.normalise_api_url(rec.api_url),
        "gone": int(rec.gone),
    }
    return tuple(row[name] for name in schema.SESSION_FIELDS)


class SQLiteStore(SQLiteDatabase, StateStore):
    """The store in one SQLite file. ``path`` is the database file (normally
    ``Settings.state_db``) or the state folder (then ``state.db`` inside it). All methods are
    synchronous and fast; safe to share between threads and between processes.
    """

    # --- locks ----------------------------------------------------------------------------

    def token_lock(self, timeout: float = constants.TOKEN_LOCK_TIMEOUT) -> StoreLock:
        """Held while one process checks for, and if needed requests, an anonymous token (a
        separate lock database in the state folder)."""
        return StoreLock(self.folder / f"{self.db_path.stem}.token.lock", timeout)

    # --- identity -------------------------------------------------------------------------

    def get_client_id(self, create: bool = True) -> str | None:
        """The persistent ``X-Client-Id``; created once (the first writer wins across processes)."""
        row = self._one("SELECT value FROM meta WHERE key = 'client_id'")
        if row is not None:
            return str(row["value"])
        if not create:
            return None
        self._execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('client_id', ?)", (str(uuid.uuid4()),)
        )
        row = self._one("SELECT value FROM meta WHERE key = 'client_id'")
        return str(row["value"]) if row is not None else None

    def set_client_id(self, value: str) -> None:
        self._execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('client_id', ?)", (value,))

    # --- credentials ----------------------------------------------------------------------

    def load_credential(self, api_url: str) -> Credential | None:
        row = self._one(
            "SELECT * FROM credentials WHERE api_url = ?", (schema.normalise_api_url(api_url),)
        )
        if row is None:
            return None
        register_secret(row["token"])
        source: CredentialSource = "login" if row["source"] == "login" else "anonymous"
        return Credential(
            token=row["token"],
            user_id=row["user_id"],
            expires_at=row["expires_at"],
            credits=row["credits"],
            source=source,
            obtained_at=row["obtained_at"],
        )

    def save_credential(self, api_url: str, cred: Credential) -> None:
        register_secret(cred.token)
        self._execute(
            "INSERT OR REPLACE INTO credentials "
            "(api_url, token, user_id, expires_at, credits, source, obtained_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                schema.normalise_api_url(api_url),
                cred.token,
                cred.user_id,
                cred.expires_at,
                cred.credits,
                cred.source,
                cred.obtained_at,
            ),
        )
        self._secure_files()

    def clear_credential(self, api_url: str, *, only_token: str | None = None) -> bool:
        """Forget the credential; with ``only_token``, only if it is still that token.

        Returns whether anything was removed. The compare-and-delete form lets a process drop a
        rejected token without discarding a fresh one another process just stored.
        """
        url = schema.normalise_api_url(api_url)
        if only_token is None:
            cur = self._execute("DELETE FROM credentials WHERE api_url = ?", (url,))
        else:
            cur = self._execute(
                "DELETE FROM credentials WHERE api_url = ? AND token = ?", (url, only_token)
            )
        return cur.rowcount > 0

    # --- sessions -------------------------------------------------------------------------

    @staticmethod
    def _session(row: sqlite3.Row) -> SessionRecord:
        return SessionRecord(
            session_id=row["session_id"],
            task_id=row["task_id"],
            api_url=row["api_url"],
            language=row["language"],
            title=row["title"],
            user_id=row["user_id"],
            created_at=row["created_at"],
            gone=bool(row["gone"]),
            last_state=row["last_state"],
        )

    def save_session(self, rec: SessionRecord) -> None:
        """Insert or update a session. A record without ``last_state`` keeps the stored one."""
        self._execute(
            _INSERT_SESSION + "ON CONFLICT (session_id) DO UPDATE SET task_id = excluded.task_id, "
            "api_url = excluded.api_url, language = excluded.language, title = excluded.title, "
            "user_id = excluded.user_id, created_at = excluded.created_at, gone = excluded.gone, "
            "last_state = COALESCE(excluded.last_state, sessions.last_state)",
            _session_values(rec),
        )

    def get_session(self, session_id: str) -> SessionRecord | None:
        row = self._one("SELECT * FROM sessions WHERE session_id = ?", (str(session_id),))
        return self._session(row) if row is not None else None

    def list_sessions(self, api_url: str) -> list[SessionRecord]:
        """Every session for this API URL, newest first (gone ones included, flagged)."""
        rows = self._all(
            "SELECT * FROM sessions WHERE api_url = ? ORDER BY created_at DESC, rowid DESC",
            (schema.normalise_api_url(api_url),),
        )
        return [self._session(r) for r in rows]

    def set_current_session(self, api_url: str, session_id: str | None) -> None:
        url = schema.normalise_api_url(api_url)
        if session_id is None:
            self._execute("DELETE FROM current_session WHERE api_url = ?", (url,))
        else:
            self._execute(
                "INSERT OR REPLACE INTO current_session (api_url, session_id) VALUES (?, ?)",
                (url, str(session_id)),
            )

    def adopt_session(self, rec: SessionRecord) -> SessionRecord:
        """Make ``rec`` the current session unless another live one is current: atomically.

        Two calls (or processes) that each created a session when there was none agree on one:
        the first to get here wins, the other gets the winner back (its own session is not
        recorded; the empty project stays on the server).
        """
        url = schema.normalise_api_url(rec.api_url)
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT s.* FROM current_session c JOIN sessions s ON s.session_id = c.session_id "
                "WHERE c.api_url = ? AND s.gone = 0",
                (url,),
            ).fetchone()
            if row is not None:
                return self._session(row)
            conn.execute(
                _INSERT_SESSION + "ON CONFLICT (session_id) DO NOTHING", _session_values(rec)
            )
            conn.execute(
                "INSERT OR REPLACE INTO current_session (api_url, session_id) VALUES (?, ?)",
                (url, str(rec.session_id)),
            )
        return rec

    def current_session(self, api_url: str) -> SessionRecord | None:
        row = self._one(
            "SELECT s.* FROM current_session c JOIN sessions s ON s.session_id = c.session_id "
            "WHERE c.api_url = ?",
            (schema.normalise_api_url(api_url),),
        )
        return self._session(row) if row is not None else None

    def mark_session_gone(self, session_id: str) -> None:
        """Flag a session the server no longer knows; it stops being anyone's current session."""
        with self._transaction() as conn:
            conn.execute("UPDATE sessions SET gone = 1 WHERE session_id = ?", (str(session_id),))
            conn.execute("DELETE FROM current_session WHERE session_id = ?", (str(session_id),))

    def update_session_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Keep the session's last state (for diffs across restarts and offline reads).

        Only what is needed is kept: a state larger than ``MAX_STORED_STATE_BYTES`` is cut down
        to its timeline draft, and dropped (the previous one kept) if even that is too large.
        """
        text = schema.state_text(state)
        if text is None:
            log.info("a session state too large to keep was not stored")
            return
        self._execute(
            "UPDATE sessions SET last_state = ? WHERE session_id = ?", (text, str(session_id))
        )

    # --- renders --------------------------------------------------------------------------

    @staticmethod
    def _render(row: sqlite3.Row) -> RenderRecord:
        return RenderRecord(**{name: row[name] for name in schema.RENDER_FIELDS})

    def save_render(self, rec: RenderRecord) -> None:
        if rec.status not in schema.RENDER_STATUSES:
            raise ValueError(f"unknown render status {rec.status!r}")
        values = schema.scrub({name: getattr(rec, name) for name in schema.RENDER_FIELDS})
        values["api_url"] = schema.normalise_api_url(rec.api_url)
        columns = ", ".join(schema.RENDER_FIELDS)
        marks = ", ".join(f":{name}" for name in schema.RENDER_FIELDS)
        self._execute(f"INSERT OR REPLACE INTO renders ({columns}) VALUES ({marks})", values)

    def update_render(self, render_id: str, **fields: Any) -> RenderRecord | None:
        """Change some fields (``updated_at`` is set to now unless given); None if unknown."""
        if "status" in fields and fields["status"] not in schema.RENDER_STATUSES:
            raise ValueError(f"unknown render status {fields['status']!r}")
        return self._update(
            "renders", "render_id", render_id, schema.RENDER_FIELDS, fields, self.get_render
        )

    def get_render(self, render_id: str) -> RenderRecord | None:
        row = self._one("SELECT * FROM renders WHERE render_id = ?", (render_id,))
        return self._render(row) if row is not None else None

    def list_renders(
        self, session_id: str | None = None, unfinished_only: bool = False
    ) -> list[RenderRecord]:
        """Renders newest first; ``unfinished_only`` keeps submitting/pending/processing ones."""
        statuses = schema.RENDER_UNFINISHED if unfinished_only else None
        return [self._render(r) for r in self._list("renders", session_id, statuses)]

    # --- turns ----------------------------------------------------------------------------

    @staticmethod
    def _turn(row: sqlite3.Row) -> TurnRecord:
        return TurnRecord(**{name: row[name] for name in schema.TURN_FIELDS})

    def claim_turn(
        self,
        rec: TurnRecord,
        *,
        duplicate_after: float | None,
        lease_seconds: float,
        now: float | None = None,
    ) -> TurnClaim:
        """Start the ``running`` turn ``rec`` unless its message was just sent or the session is
        busy; the check and the record are one atomic step (see the module docstring).

        ``duplicate_after``: a turn with the same ``message_hash`` created at or after this time
        is a duplicate (None: no duplicate check, the caller forces a resend). A running turn
        whose lease ran out is marked ``interrupted`` first (its process is gone).
        """
        now = time.time() if now is None else now
        values = schema.scrub({name: getattr(rec, name) for name in schema.TURN_FIELDS})
        values.update(
            status="running",
            lease_until=now + lease_seconds,
            message_preview=values["message_preview"][: constants.TURN_PREVIEW_CHARS],
        )
        sid = str(rec.session_id)
        columns = ", ".join(schema.TURN_FIELDS)
        marks = ", ".join(f":{name}" for name in schema.TURN_FIELDS)
        with self._transaction() as conn:
            conn.execute(
                "UPDATE turns SET status = 'interrupted', updated_at = ? WHERE session_id = ? "
                "AND status = 'running' AND COALESCE(lease_until, 0) < ?",
                (now, sid, now),
            )
            if duplicate_after is not None and rec.message_hash:
                row = conn.execute(
                    "SELECT turn_id FROM turns WHERE session_id = ? AND message_hash = ? "
                    "AND created_at >= ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                    (sid, rec.message_hash, duplicate_after),
                ).fetchone()
                if row is not None:
                    return TurnClaim("duplicate", str(row["turn_id"]))
            cur = conn.execute(
                f"INSERT INTO turns ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING", values
            )
            if cur.rowcount == 1:
                return TurnClaim("started", rec.turn_id)
            row = conn.execute(
                "SELECT turn_id FROM turns WHERE session_id = ? AND status = 'running'", (sid,)
            ).fetchone()
        if row is None:  # the id itself was taken: not something a caller can recover from
            raise StoreError(f"A chat turn with id {rec.turn_id} already exists.")
        return TurnClaim("busy", str(row["turn_id"]))

    def renew_turn_lease(self, turn_id: str, lease_seconds: float) -> bool:
        """Extend a running turn's lease; False when it is no longer running."""
        cur = self._execute(
            "UPDATE turns SET lease_until = ? WHERE turn_id = ? AND status = 'running'",
            (time.time() + lease_seconds, turn_id),
        )
        return cur.rowcount > 0

    def update_turn(self, turn_id: str, **fields: Any) -> TurnRecord | None:
        if "status" in fields and fields["status"] not in schema.TURN_STATUSES:
            raise ValueError(f"unknown turn status {fields['status']!r}")
        if isinstance(fields.get("message_preview"), str):
            fields["message_preview"] = fields["message_preview"][: constants.TURN_PREVIEW_CHARS]
        return self._update("turns", "turn_id", turn_id, schema.TURN_FIELDS, fields, self.get_turn)

    def get_turn(self, turn_id: str) -> TurnRecord | None:
        row = self._one("SELECT * FROM turns WHERE turn_id = ?", (turn_id,))
        return self._turn(row) if row is not None else None

    def list_turns(
        self, session_id: str | None = None, *, unfinished_only: bool = False
    ) -> list[TurnRecord]:
        """Turns newest first; ``unfinished_only`` keeps the ``running`` ones."""
        statuses = schema.TURN_UNFINISHED if unfinished_only else None
        return [self._turn(r) for r in self._list("turns", session_id, statuses)]
