"""The SQLite plumbing under :class:`~nemo_mcp.store.sqlite.SQLiteStore`: opening the database
(WAL, busy timeout, private files), migrating it, and running statements and transactions.

Several MCP servers (one per client app) and CLI runs may use the folder at once, so the database
runs in WAL mode with a busy timeout; each write is a single atomic statement or one ``BEGIN
IMMEDIATE`` transaction, and a process killed mid-write leaves the previous committed state
readable (SQLite's journal guarantees it).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from nemo_mcp import constants
from nemo_mcp.errors import StoreError
from nemo_mcp.store import schema
from nemo_mcp.store.locks import chmod_private, resolve_db_path, touch_private

_R = TypeVar("_R")


class SQLiteDatabase:
    """One connection to the state database, shared by threads behind a lock."""

    def __init__(self, path: Path) -> None:
        self.db_path = resolve_db_path(path)
        self.folder = self.db_path.parent
        self._lock = threading.RLock()
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"Cannot create the state folder {self.folder}: {err.strerror or err}."
            ) from err
        chmod_private(self.folder, 0o700)
        touch_private(self.db_path)
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
            chmod_private(self.db_path.with_name(self.db_path.name + suffix), 0o600)

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
            if version >= schema.SCHEMA_VERSION:
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # re-read under the write lock: another process may have migrated meanwhile
                version = self._conn.execute("PRAGMA user_version").fetchone()[0]
                if version < 1:
                    for statement in schema.SCHEMA.split(";"):
                        if statement.strip():
                            self._conn.execute(statement)
                for target, statements in sorted(schema.MIGRATIONS.items()):
                    if version < target:
                        for statement in statements:
                            self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
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
        fields = schema.scrub(dict(fields))
        fields.setdefault("updated_at", time.time())
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        params = {**fields, "_key": key_value}
        self._execute(f"UPDATE {table} SET {assignments} WHERE {key} = :_key", params)
        return reload(key_value)
