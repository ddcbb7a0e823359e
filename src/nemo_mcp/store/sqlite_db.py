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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nemo_mcp import constants
from nemo_mcp.errors import StoreError
from nemo_mcp.store import schema
from nemo_mcp.store.locks import chmod_private, resolve_db_path, touch_private


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
                # the version-1 tables (IF NOT EXISTS: a database missing one gets it)
                for statement in schema.iter_statements(schema.SCHEMA):
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
    def _transaction(self, serialise: str | None = None) -> Iterator[Any]:
        """One write transaction (``BEGIN IMMEDIATE``: the database's write lock, so what is
        read inside it cannot change before the writes commit, across processes too; every
        ``serialise`` key is covered by it)."""
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

    def _one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        with self._db() as conn:
            return conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        with self._db() as conn:
            return list(conn.execute(sql, params).fetchall())

    _view = False  # a view of another store's connection (``for_owner``): left open on close

    def close(self) -> None:
        if self._view:
            return
        with self._lock:
            self._conn.close()
