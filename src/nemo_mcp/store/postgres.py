"""The hosted store: PostgreSQL through psycopg 3 and its connection pool, shared by any number of
worker processes (``NEMO_MCP_DATABASE_URL=postgresql://...``).

The statements are the embedded store's (:mod:`nemo_mcp.store.sql`), with ``?`` and ``:name``
parameters rewritten for psycopg; the tables and migrations are ``schema``'s, with ``REAL`` kept
as double precision. Migrating takes an advisory lock, so workers starting together migrate once.
A transaction that must not interleave with another on the same thing (``serialise``) takes a
transaction-scoped advisory lock on it. Tokens at rest are encrypted when a key is configured
(``TokenSealer``). A connection the server dropped (a restart) is replaced by the pool; the
statement that met it fails with ``StoreError`` and the next one reconnects.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from nemo_mcp import constants
from nemo_mcp.errors import LockTimeoutError, StoreError
from nemo_mcp.redact import redact
from nemo_mcp.store import schema
from nemo_mcp.store.base import CrossProcessLock
from nemo_mcp.store.sql import Params, SQLStore

if TYPE_CHECKING:
    from nemo_mcp.store.sealing import TokenSealer

log = logging.getLogger(__name__)

_NAMED: Final = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_MIGRATION_LOCK: Final = 0x6E656D6F  # "nemo": the advisory lock migrations take
_VERSION_KEY: Final = "schema_version"
# How long a statement waits for a pooled connection. Store calls are synchronous (as the
# interface says: fast), so while the server is unreachable a worker's event loop waits this
# long per statement: short, and the statement fails with a retryable StoreError.
CONNECTION_WAIT: Final = 3.0


def pg_sql(sql: str) -> str:
    """A statement with SQLite-style parameters (``?``, ``:name``) in psycopg's style."""
    return _NAMED.sub(r"%(\1)s", sql.replace("?", "%s"))


def pg_ddl(sql: str) -> str:
    """A schema statement for PostgreSQL: epoch seconds need double precision."""
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)


def lock_key(name: str) -> int:
    """A stable 32-bit advisory lock key for a name."""
    return zlib.crc32(name.encode()) - 2**31


class _Tx:
    """A connection inside a transaction, taking SQLite-style statements."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(pg_sql(sql), params or None)


class PostgresStore(SQLStore):
    """The store in a PostgreSQL database; ``for_owner`` gives each user's view over one pool."""

    _tiebreak = "key"  # no rowid: rows created in the same instant are ordered by their id

    def __init__(
        self,
        url: str,
        *,
        owner: str = schema.LOCAL_OWNER,
        sealer: TokenSealer | None = None,
        max_size: int = 10,
    ) -> None:
        self.owner = owner
        self._sealer = sealer
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": True},
            check=ConnectionPool.check_connection,
            open=False,
            name="nemo-mcp",
        )
        try:
            # one plain connection first: a wrong URL or a server that is down fails at once
            # with the server's reason, instead of after the pool's retries
            psycopg.connect(url, connect_timeout=5).close()
            self.pool.open(wait=True, timeout=constants.STORE_BUSY_TIMEOUT)
            self._migrate()
        except (psycopg.Error, Exception) as err:
            self.pool.close()
            raise StoreError(
                f"Cannot use the PostgreSQL database ({redact(str(err)) or type(err).__name__}).",
                hint="Check NEMO_MCP_DATABASE_URL and that the server is running and reachable.",
            ) from err

    # --- plumbing -------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (_VERSION_KEY,)).fetchone()
            version = int(row["value"]) if row else 0
            if version >= schema.SCHEMA_VERSION:
                return
            for statement in schema.iter_statements(schema.SCHEMA):
                conn.execute(pg_ddl(statement))
            for target, statements in sorted(schema.MIGRATIONS.items()):
                if version < target:
                    for statement in statements:
                        conn.execute(pg_ddl(statement))
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_VERSION_KEY, str(schema.SCHEMA_VERSION)),
            )

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.pool.connection(timeout=CONNECTION_WAIT) as conn:
                yield conn
        except psycopg.Error as err:
            raise StoreError(
                f"The database failed: {redact(str(err)).strip() or type(err).__name__}.",
                hint="Retry in a moment; if it persists, check the PostgreSQL server.",
            ) from err
        except TimeoutError as err:  # psycopg_pool.PoolTimeout
            raise StoreError(
                "No database connection came free in time.", hint="Retry in a moment."
            ) from err

    def _execute(self, sql: str, params: Params = ()) -> psycopg.Cursor[Any]:
        with self._conn() as conn:
            return conn.execute(pg_sql(sql), params or None)

    def _one(self, sql: str, params: Params = ()) -> Any:
        with self._conn() as conn:
            return conn.execute(pg_sql(sql), params or None).fetchone()

    def _all(self, sql: str, params: Params = ()) -> list[Any]:
        with self._conn() as conn:
            return conn.execute(pg_sql(sql), params or None).fetchall()

    @contextmanager
    def _transaction(self, serialise: str | None = None) -> Iterator[_Tx]:
        with self._conn() as conn, conn.transaction():
            if serialise is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(serialise),))
            yield _Tx(conn)

    def _seal(self, token: str) -> str:
        return self._sealer.seal(token) if self._sealer is not None else token

    def _unseal(self, stored: str) -> str:
        return self._sealer.unseal(stored) if self._sealer is not None else stored

    def close(self) -> None:
        if not self._view:
            self.pool.close()

    def ping(self) -> bool:
        """True when the database answers (``/readyz``)."""
        try:
            return self._one("SELECT 1 AS ok") is not None
        except StoreError:
            return False

    def token_lock(self, timeout: float = constants.TOKEN_LOCK_TIMEOUT) -> AdvisoryLock:
        return AdvisoryLock(self.pool, f"token:{self.owner}", timeout)


class AdvisoryLock(CrossProcessLock):
    """A session-level advisory lock held on one pooled connection (the server drops it if the
    holder dies); ``release`` is idempotent."""

    def __init__(
        self, pool: ConnectionPool[psycopg.Connection[Any]], name: str, timeout: float
    ) -> None:
        self._pool, self._key, self.timeout = pool, lock_key(name), timeout
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> None:
        conn = self._pool.getconn()
        deadline = time.monotonic() + max(self.timeout, 0.0)
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (self._key,)).fetchone()
            if row and row["got"]:
                self._conn = conn
                return
            if time.monotonic() > deadline:
                self._pool.putconn(conn)
                raise LockTimeoutError(
                    f"Waited {self.timeout:g} s for another nemo-mcp worker to release its lock."
                )
            time.sleep(0.05)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except psycopg.Error:
            pass
        finally:
            self._pool.putconn(conn)
