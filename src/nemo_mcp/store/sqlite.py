"""The embedded store: one SQLite database in the state folder, shared by every nemo-mcp process
of a user (see :mod:`nemo_mcp.store.sqlite_db` for how it stays consistent across processes).

The statements are the shared ones (:mod:`nemo_mcp.store.sql`); a write transaction is ``BEGIN
IMMEDIATE``, the database's write lock, so every check-then-write (one running turn per session,
one export per timeline, one poller per render) is one atomic step across processes.
"""

from __future__ import annotations

from nemo_mcp import constants
from nemo_mcp.store.locks import StoreLock
from nemo_mcp.store.sql import SQLStore
from nemo_mcp.store.sqlite_db import SQLiteDatabase


class SQLiteStore(SQLiteDatabase, SQLStore):
    """The store in one SQLite file. ``path`` is the database file (normally
    ``Settings.state_db``) or the state folder (then ``state.db`` inside it). All methods are
    synchronous and fast; safe to share between threads and between processes.
    """

    def token_lock(self, timeout: float = constants.TOKEN_LOCK_TIMEOUT) -> StoreLock:
        """Held while one process checks for, and if needed requests, an anonymous token (a
        separate lock database in the state folder)."""
        return StoreLock(self.folder / f"{self.db_path.stem}.token.lock", timeout)

    def _saved_secret(self) -> None:
        self._secure_files()
