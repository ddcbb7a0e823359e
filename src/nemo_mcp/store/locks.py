"""The state folder's files: kept private to their owner, and the cross-process lock.

The folder is created ``0o700`` and the database files are kept ``0o600`` (re-applied on every
open; skipped on Windows, where the user profile is already private).

A cross-process lock (``StoreLock``) lets exactly one process request an anonymous token. It is a
``BEGIN IMMEDIATE`` transaction on a separate, empty lock database next to the state database:
the operating system drops it when the holder dies, and it never blocks writes to the state.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Final

from nemo_mcp.errors import LockTimeoutError, StoreError
from nemo_mcp.store.base import CrossProcessLock
from nemo_mcp.store.schema import DB_NAME

log = logging.getLogger(__name__)

_DB_SUFFIXES: Final = (".db", ".sqlite", ".sqlite3")
_POSIX = os.name != "nt"


def chmod_private(path: Path, mode: int) -> None:
    if not _POSIX:
        return
    try:
        os.chmod(path, mode)
    except FileNotFoundError:
        pass
    except OSError as err:  # not our file, read-only mount: nothing useful to do
        log.debug("could not chmod %s: %s", path.name, err)


def touch_private(path: Path) -> None:
    """Create ``path`` (if missing) readable by its owner only."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as err:
        raise StoreError(f"Cannot create the state file {path}: {err.strerror or err}.") from err
    os.close(fd)


def resolve_db_path(path: Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir() or path.suffix.lower() not in _DB_SUFFIXES:
        return path / DB_NAME
    return path


class StoreLock(CrossProcessLock):
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
        touch_private(self.path)
        chmod_private(self.path, 0o600)
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
