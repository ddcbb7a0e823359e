"""The store: what nemo-mcp remembers between calls and across processes.

    base      the interface (``StateStore``), what is kept and the guarantees
    records   the records kept: credentials, sessions, renders, chat turns
    schema    tables, migrations, fields and statuses, shared by every backend
    sql       the statements, once, scoped by user (``SQLStore``), for every SQL backend
    sqlite    the embedded store (``SQLiteStore``): one file in the state folder
    postgres  the hosted store (``PostgresStore``): PostgreSQL, shared by many workers
    sealing   tokens at rest encrypted with a configured key (hosted)
    locks     private file modes and the cross-process lock

``open_store(settings)`` opens the store the settings name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nemo_mcp.config import Settings
    from nemo_mcp.store.base import StateStore


def open_store(settings: Settings) -> StateStore:
    """The store for these settings: PostgreSQL when ``NEMO_MCP_DATABASE_URL`` names one,
    else the SQLite file in the state folder."""
    url = settings.database_url
    if url is not None and url.split(":", 1)[0] in ("postgresql", "postgres"):
        from nemo_mcp.store.postgres import PostgresStore
        from nemo_mcp.store.sealing import TokenSealer

        sealer = TokenSealer(settings.token_key) if settings.token_key else None
        return PostgresStore(url, sealer=sealer)
    if url is not None:
        from nemo_mcp.errors import ConfigError

        raise ConfigError(
            "NEMO_MCP_DATABASE_URL must be a postgresql:// URL.",
            hint="Unset it to keep state in the local SQLite file.",
        )
    from nemo_mcp.store.sqlite import SQLiteStore

    return SQLiteStore(settings.state_db)
