"""The store: what nemo-mcp remembers between calls and across processes.

    base      the interface (``StateStore``), what is kept and the guarantees
    records   the records kept: credentials, sessions, renders, chat turns
    schema    tables, migrations, fields and statuses, shared by every backend
    sqlite    the embedded store (``SQLiteStore``): one file in the state folder
    locks     private file modes and the cross-process lock

``open_store(settings)`` opens the store the settings name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nemo_mcp.config import Settings
    from nemo_mcp.store.base import StateStore


def open_store(settings: Settings) -> StateStore:
    """The store for these settings: the SQLite file in the state folder."""
    from nemo_mcp.store.sqlite import SQLiteStore

    return SQLiteStore(settings.state_db)
