"""The state folder: one SQLite database shared by every nemo-mcp process of a user.

Several MCP servers (one per client app) and CLI runs may use the folder at once, so the database
runs in WAL mode with a busy timeout; each write is a single atomic statement, and a process killed
mid-write leaves the previous committed state readable (SQLite's journal guarantees it). The folder
is created ``0o700`` and the database files are kept ``0o600`` (re-applied on every open; skipped on
Windows, where the user profile is already private).

What is kept:

- ``client_id``: the ``X-Client-Id`` UUID for anonymous tokens, created once;
- credentials per API URL (anonymous or ``login`` tokens);
- sessions (with the last seen state, for diffs across restarts) and the current one per API URL;
- renders (written as ``submitting`` *before* the submit request, so a restart can resume);
- chat turns. Starting one is a single atomic step (``claim_turn``): the duplicate check, the
  busy check and the record happen in one write transaction, and a partial unique index allows
  one running turn per session, so two processes (or two parallel calls) can never both send a
  message. A running turn carries a lease its owner renews; a dead owner's turn goes stale.
  (A PostgreSQL store would do the same with the same partial unique index and
  ``INSERT ... ON CONFLICT DO NOTHING``: the index alone decides a race.)

Text that came from the backend (replies, errors, URLs, states) is scrubbed of registered
secrets before it is stored, in case the backend echoes the token.

A cross-process lock (``token_lock``) lets exactly one process request an anonymous token. It is a
``BEGIN IMMEDIATE`` transaction on a separate, empty lock database next to the state database:
the operating system drops it when the holder dies, and it never blocks writes to the state.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, TypeVar, get_args

from nemo_mcp import constants
from nemo_mcp.errors import LockTimeoutError, StoreError
from nemo_mcp.models import (
    Credential,
    CredentialSource,
    RenderRecord,
    RenderRecordStatus,
    SessionRecord,
    TurnRecord,
    TurnStatus,
)
from nemo_mcp.redact import redact, register_secret

log = logging.getLogger(__name__)
_R = TypeVar("_R")

DB_NAME: Final = "state.db"
_DB_SUFFIXES: Final = (".db", ".sqlite", ".sqlite3")
_SCHEMA_VERSION: Final = 3
_POSIX = os.name != "nt"

_RENDER_STATUSES: Final = frozenset(get_args(RenderRecordStatus))
_TURN_STATUSES: Final = frozenset(get_args(TurnStatus))
# "completed" is unfinished too: the render is done but its file is not downloaded yet
_RENDER_UNFINISHED: Final = ("submitting", "pending", "processing", "completed")
_TURN_UNFINISHED: Final = ("running",)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    api_url TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    user_id TEXT,
    expires_at REAL,
    credits INTEGER,
    source TEXT NOT NULL,
    obtained_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    task_id TEXT,
    api_url TEXT NOT NULL,
    language TEXT NOT NULL,
    title TEXT,
    user_id TEXT,
    created_at REAL NOT NULL,
    gone INTEGER NOT NULL DEFAULT 0,
    last_state TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_api ON sessions (api_url, created_at);
CREATE TABLE IF NOT EXISTS current_session (
    api_url TEXT PRIMARY KEY,
    session_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS renders (
    render_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    api_url TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL,
    url TEXT,
    output_path TEXT,
    error TEXT,
    attempt INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS renders_by_session ON renders (session_id, created_at);
CREATE TABLE IF NOT EXISTS turns (
    turn_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    message_preview TEXT NOT NULL,
    status TEXT NOT NULL,
    result_json TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_session ON turns (session_id, created_at);
"""

# Schema changes after version 1, applied in order to older databases.
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    2: (
        "ALTER TABLE renders ADD COLUMN draft_digest TEXT",
        "ALTER TABLE renders ADD COLUMN replaced_by TEXT",
        "ALTER TABLE renders ADD COLUMN filename TEXT",
        "ALTER TABLE turns ADD COLUMN message_hash TEXT",
        "CREATE INDEX IF NOT EXISTS turns_by_hash ON turns (session_id, message_hash)",
    ),
    3: (
        "ALTER TABLE turns ADD COLUMN lease_until REAL",
        # turns left running by older versions have no owner that renews them
        "UPDATE turns SET status = 'interrupted' WHERE status = 'running'",
        "CREATE UNIQUE INDEX IF NOT EXISTS turns_one_running ON turns (session_id) "
        "WHERE status = 'running'",
    ),
}

_RENDER_FIELDS: Final = (
    "render_id",
    "session_id",
    "api_url",
    "status",
    "progress",
    "url",
    "output_path",
    "error",
    "attempt",
    "created_at",
    "updated_at",
    "draft_digest",
    "replaced_by",
    "filename",
)
_TURN_FIELDS: Final = (
    "turn_id",
    "session_id",
    "message_preview",
    "status",
    "result_json",
    "created_at",
    "updated_at",
    "message_hash",
    "lease_until",
)
# Columns holding text that came from the backend: scrubbed of secrets before storing.
_SCRUBBED: Final = frozenset({"result_json", "error", "url", "message_preview"})


def _scrub(values: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if k in _SCRUBBED and isinstance(v, str) else v for k, v in values.items()}


TurnClaimOutcome = Literal["started", "duplicate", "busy"]


@dataclass(frozen=True)
class TurnClaim:
    """What ``Store.claim_turn`` did: started the turn, or found the one in the way."""

    outcome: TurnClaimOutcome
    turn_id: str


def normalise_api_url(api_url: str) -> str:
    return api_url.strip().rstrip("/")


def _chmod(path: Path, mode: int) -> None:
    if not _POSIX:
        return
    try:
        os.chmod(path, mode)
    except FileNotFoundError:
        pass
    except OSError as err:  # not our file, read-only mount: nothing useful to do
        log.debug("could not chmod %s: %s", path.name, err)


def _touch_private(path: Path) -> None:
    """Create ``path`` (if missing) readable by its owner only."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as err:
        raise StoreError(f"Cannot create the state file {path}: {err.strerror or err}.") from err
    os.close(fd)


def _resolve_db_path(path: Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir() or path.suffix.lower() not in _DB_SUFFIXES:
        return path / DB_NAME
    return path


class StoreLock:
    """A cross-process lock: ``BEGIN IMMEDIATE`` on a dedicated connection to a lock database.

    Usable as a context manager, or with ``acquire()`` / ``release()`` (``release`` is idempotent,
    so an async caller can acquire in a worker thread and always release in ``finally``).
    """

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> None:
        _touch_private(self.path)
        _chmod(self.path, 0o600)
        conn = sqlite3.connect(
            self.path, timeout=max(self.timeout, 0.0), isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            conn.close()
            raise LockTimeoutError(
                f"Waited {self.timeout:g} s for another nemo-mcp process to release its lock."
            ) from err
        with self._guard:
            self._conn = conn

    def release(self) -> None:
        with self._guard:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        finally:
            conn.close()

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class Store:
    """The only code that reads or writes the state folder. All methods are synchronous and fast.

    ``path`` is the database file (normally ``Settings.state_db``) or the state folder (then
    ``state.db`` inside it). Safe to share between threads and between processes.
    """

    def __init__(self, path: Path) -> None:
        self.db_path = _resolve_db_path(path)
        self.folder = self.db_path.parent
        self._lock = threading.RLock()
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"Cannot create the state folder {self.folder}: {err.strerror or err}."
            ) from err
        _chmod(self.folder, 0o700)
        _touch_private(self.db_path)
        try:
            self._conn = sqlite3.connect(
                self.db_path,
                timeout=constants.STORE_BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as err:
            raise StoreError(f"Cannot open the state database {self.db_path}: {err}.") from err
        self._conn.row_factory = sqlite3.Row
        try:
            self._wal()
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.Error as err:
            self._conn.close()
            raise StoreError(
                f"The state database {self.db_path} is unreadable ({err}).",
                hint="Move the file aside (nemo-mcp then starts with a fresh state) and retry.",
            ) from err
        self._secure_files()

    # --- plumbing -------------------------------------------------------------------------

    def _secure_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            _chmod(self.db_path.with_name(self.db_path.name + suffix), 0o600)

    def _wal(self) -> None:
        """Switch to WAL mode. Processes opening a new database at the same moment can get
        "database is locked" here at once (SQLite does not wait on its busy handler for this
        switch), so it is retried for up to the busy timeout."""
        deadline = time.monotonic() + constants.STORE_BUSY_TIMEOUT
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= _SCHEMA_VERSION:
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # re-read under the write lock: another process may have migrated meanwhile
                version = self._conn.execute("PRAGMA user_version").fetchone()[0]
                if version < 1:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._conn.execute(statement)
                for target, statements in sorted(_MIGRATIONS.items()):
                    if version < target:
                        for statement in statements:
                            self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as err:
                raise StoreError(f"The state database failed: {err}.") from err

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: the database's write lock, so what is
        read inside it cannot change before the writes commit, across processes too)."""
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._db() as conn:
            return conn.execute(sql, params)

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._db() as conn:
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
            return row

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._db() as conn:
            return list(conn.execute(sql, params).fetchall())

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- locks ----------------------------------------------------------------------------

    def lock(self, name: str, timeout: float) -> StoreLock:
        """A named cross-process lock (a separate lock database in the state folder)."""
        safe = "".join(c for c in name if c.isalnum() or c in "-_") or "lock"
        return StoreLock(self.folder / f"{self.db_path.stem}.{safe}.lock", timeout)

    def token_lock(self, timeout: float = constants.TOKEN_LOCK_TIMEOUT) -> StoreLock:
        """Held while one process checks for, and if needed requests, an anonymous token."""
        return self.lock("token", timeout)

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
            "SELECT * FROM credentials WHERE api_url = ?", (normalise_api_url(api_url),)
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
                normalise_api_url(api_url),
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
        url = normalise_api_url(api_url)
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
            "INSERT INTO sessions "
            "(session_id, task_id, api_url, language, title, user_id, created_at, gone, last_state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (session_id) DO UPDATE SET task_id = excluded.task_id, "
            "api_url = excluded.api_url, language = excluded.language, title = excluded.title, "
            "user_id = excluded.user_id, created_at = excluded.created_at, gone = excluded.gone, "
            "last_state = COALESCE(excluded.last_state, sessions.last_state)",
            (
                str(rec.session_id),
                rec.task_id,
                normalise_api_url(rec.api_url),
                rec.language,
                rec.title,
                rec.user_id,
                rec.created_at,
                int(rec.gone),
                rec.last_state,
            ),
        )

    def get_session(self, session_id: str) -> SessionRecord | None:
        row = self._one("SELECT * FROM sessions WHERE session_id = ?", (str(session_id),))
        return self._session(row) if row is not None else None

    def list_sessions(self, api_url: str) -> list[SessionRecord]:
        """Every session for this API URL, newest first (gone ones included, flagged)."""
        rows = self._all(
            "SELECT * FROM sessions WHERE api_url = ? ORDER BY created_at DESC, rowid DESC",
            (normalise_api_url(api_url),),
        )
        return [self._session(r) for r in rows]

    def set_current_session(self, api_url: str, session_id: str | None) -> None:
        url = normalise_api_url(api_url)
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
        url = normalise_api_url(rec.api_url)
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT s.* FROM current_session c JOIN sessions s ON s.session_id = c.session_id "
                "WHERE c.api_url = ? AND s.gone = 0",
                (url,),
            ).fetchone()
            if row is not None:
                return self._session(row)
            conn.execute(
                "INSERT INTO sessions (session_id, task_id, api_url, language, title, user_id, "
                "created_at, gone, last_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (session_id) DO NOTHING",
                (
                    str(rec.session_id),
                    rec.task_id,
                    url,
                    rec.language,
                    rec.title,
                    rec.user_id,
                    rec.created_at,
                    int(rec.gone),
                    rec.last_state,
                ),
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
            (normalise_api_url(api_url),),
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
        text = _state_text(state)
        if text is None:
            log.info("a session state too large to keep was not stored")
            return
        self._execute(
            "UPDATE sessions SET last_state = ? WHERE session_id = ?", (text, str(session_id))
        )

    # --- renders --------------------------------------------------------------------------

    @staticmethod
    def _render(row: sqlite3.Row) -> RenderRecord:
        return RenderRecord(**{name: row[name] for name in _RENDER_FIELDS})

    def save_render(self, rec: RenderRecord) -> None:
        if rec.status not in _RENDER_STATUSES:
            raise ValueError(f"unknown render status {rec.status!r}")
        values = _scrub({name: getattr(rec, name) for name in _RENDER_FIELDS})
        values["api_url"] = normalise_api_url(rec.api_url)
        columns = ", ".join(_RENDER_FIELDS)
        marks = ", ".join(f":{name}" for name in _RENDER_FIELDS)
        self._execute(f"INSERT OR REPLACE INTO renders ({columns}) VALUES ({marks})", values)

    def update_render(self, render_id: str, **fields: Any) -> RenderRecord | None:
        """Change some fields (``updated_at`` is set to now unless given); None if unknown."""
        if "status" in fields and fields["status"] not in _RENDER_STATUSES:
            raise ValueError(f"unknown render status {fields['status']!r}")
        return self._update(
            "renders", "render_id", render_id, _RENDER_FIELDS, fields, self.get_render
        )

    def get_render(self, render_id: str) -> RenderRecord | None:
        row = self._one("SELECT * FROM renders WHERE render_id = ?", (render_id,))
        return self._render(row) if row is not None else None

    def list_renders(
        self, session_id: str | None = None, unfinished_only: bool = False
    ) -> list[RenderRecord]:
        """Renders newest first; ``unfinished_only`` keeps submitting/pending/processing ones."""
        statuses = _RENDER_UNFINISHED if unfinished_only else None
        return [self._render(r) for r in self._list("renders", session_id, statuses)]

    # --- turns ----------------------------------------------------------------------------

    @staticmethod
    def _turn(row: sqlite3.Row) -> TurnRecord:
        return TurnRecord(**{name: row[name] for name in _TURN_FIELDS})

    def save_turn(self, rec: TurnRecord) -> None:
        if rec.status not in _TURN_STATUSES:
            raise ValueError(f"unknown turn status {rec.status!r}")
        values = _scrub({name: getattr(rec, name) for name in _TURN_FIELDS})
        values["message_preview"] = values["message_preview"][: constants.TURN_PREVIEW_CHARS]
        columns = ", ".join(_TURN_FIELDS)
        marks = ", ".join(f":{name}" for name in _TURN_FIELDS)
        updates = ", ".join(f"{name} = excluded.{name}" for name in _TURN_FIELDS[1:])
        # an upsert on the id only: a second running turn in a session violates the partial
        # unique index (an error) instead of silently replacing the first
        self._execute(
            f"INSERT INTO turns ({columns}) VALUES ({marks}) "
            f"ON CONFLICT (turn_id) DO UPDATE SET {updates}",
            values,
        )

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
        values = _scrub({name: getattr(rec, name) for name in _TURN_FIELDS})
        values.update(
            status="running",
            lease_until=now + lease_seconds,
            message_preview=values["message_preview"][: constants.TURN_PREVIEW_CHARS],
        )
        sid = str(rec.session_id)
        columns = ", ".join(_TURN_FIELDS)
        marks = ", ".join(f":{name}" for name in _TURN_FIELDS)
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
        if "status" in fields and fields["status"] not in _TURN_STATUSES:
            raise ValueError(f"unknown turn status {fields['status']!r}")
        if isinstance(fields.get("message_preview"), str):
            fields["message_preview"] = fields["message_preview"][: constants.TURN_PREVIEW_CHARS]
        return self._update("turns", "turn_id", turn_id, _TURN_FIELDS, fields, self.get_turn)

    def get_turn(self, turn_id: str) -> TurnRecord | None:
        row = self._one("SELECT * FROM turns WHERE turn_id = ?", (turn_id,))
        return self._turn(row) if row is not None else None

    def list_turns(
        self, session_id: str | None = None, *, unfinished_only: bool = False
    ) -> list[TurnRecord]:
        """Turns newest first; ``unfinished_only`` keeps the ``running`` ones."""
        statuses = _TURN_UNFINISHED if unfinished_only else None
        return [self._turn(r) for r in self._list("turns", session_id, statuses)]

    # --- shared list and update -----------------------------------------------------------

    def _list(
        self, table: str, session_id: str | None, statuses: Iterable[str] | None
    ) -> list[sqlite3.Row]:
        """Rows of ``table`` newest first, optionally one session's and/or in ``statuses``."""
        where: list[str] = []
        params: list[Any] = []
        if session_id is not None:
            where.append("session_id = ?")
            params.append(str(session_id))
        if statuses is not None:
            wanted = list(statuses)
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        sql = f"SELECT * FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._all(sql + " ORDER BY created_at DESC, rowid DESC", tuple(params))

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
        fields = _scrub(dict(fields))
        fields.setdefault("updated_at", time.time())
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        params = {**fields, "_key": key_value}
        self._execute(f"UPDATE {table} SET {assignments} WHERE {key} = :_key", params)
        return reload(key_value)


def _state_text(state: dict[str, Any]) -> str | None:
    """A state as stored: compact JSON, secrets scrubbed, within ``MAX_STORED_STATE_BYTES``."""
    cap = constants.MAX_STORED_STATE_BYTES
    text = redact(json.dumps(state, separators=(",", ":"), sort_keys=True))
    if len(text) <= cap:
        return text
    inner = state.get("state", state)
    draft = inner.get("draft") if isinstance(inner, dict) else None
    slim: dict[str, Any] = {k: state[k] for k in ("session_id", "task_id") if k in state}
    slim["state"] = {"draft": draft}
    text = redact(json.dumps(slim, separators=(",", ":"), sort_keys=True))
    return text if len(text) <= cap else None
