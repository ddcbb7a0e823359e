"""Temporary files: downloads as ``<name>.<8 characters>.part`` beside the destination, and
small files written whole (``atomic_write``).

A part file is locked while in use (POSIX ``flock``), so a run that crashed leaves one nobody
holds, and the next download into that folder sweeps it (``sweep_stale_parts``). A finished one
is moved into place atomically and never replaces a file unasked (``place``), then the folder
is synced (``fsync_dir``). A small text file (a client's configuration) is written to a
temporary name in its folder and renamed over the old one, so a reader never sees half of it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Final

from nemo_mcp import constants
from nemo_mcp.errors import DestinationExistsError

try:
    import fcntl
except ImportError:  # Windows: no sweeping of temporary files left by a crash
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

PART_SUFFIX: Final = ".part"
# ``tempfile.mkstemp`` names: <dest name>.<8 random characters>.part
PART_SUFFIX_CHARS: Final = len(".abcdefgh" + PART_SUFFIX)
_PART_NAME_RE: Final = re.compile(r"^.+\.[a-z0-9_]{8}\.part$")


def create_part(dest: Path) -> tuple[int, Path]:
    """A new, locked part file beside ``dest``: its descriptor and path."""
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=PART_SUFFIX)
    lock_part(fd)  # held until the file is closed: a live download is never swept
    return fd, Path(name)


def taken(path: Path) -> bool:
    """Anything at ``path``, a dangling symlink included."""
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


@cache
def file_mode() -> int:
    """The mode a new file gets under the current umask (``mkstemp`` makes ``0o600``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def lock_part(fd: int) -> None:
    """Mark a temporary download file as in use (POSIX: an exclusive ``flock``).

    The lock goes away with the process, however it ends, so a ``.part`` file nobody holds was
    left by a process that died mid-download (SIGKILL, power loss): ``sweep_stale_parts``
    removes those.
    """
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a file system without locks: the file is simply not protected
        log.debug("could not lock a temporary download file")


def sweep_stale_parts(folder: Path) -> int:
    """Remove temporary download files left by dead processes; returns how many."""
    if fcntl is None:
        return 0
    removed = 0
    now = time.time()
    try:
        candidates = [p for p in folder.iterdir() if _PART_NAME_RE.match(p.name)]
    except OSError:
        return 0
    for path in candidates:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if now - os.fstat(fd).st_mtime < constants.STALE_PART_SECONDS:
                continue  # just created: its writer may not have locked it yet
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a download in progress (this process or another) holds it
            path.unlink(missing_ok=True)
            removed += 1
            log.info("removed a temporary download file left by an interrupted run")
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def place(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Move the finished temporary file to ``dest`` atomically, never replacing a file unasked."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic, and fails if dest appeared meanwhile
    except FileExistsError as err:
        raise DestinationExistsError(
            f"{dest.name} already exists; it was not overwritten."
        ) from err
    except OSError:
        # Hard links unsupported here (some filesystems): rename is exclusive on Windows; on POSIX
        # check first (a narrow race, acceptable on such filesystems).
        if os.name == "nt":
            try:
                os.rename(tmp, dest)
            except FileExistsError as err:
                raise DestinationExistsError(
                    f"{dest.name} already exists; it was not overwritten."
                ) from err
            return
        if taken(dest):
            raise DestinationExistsError(
                f"{dest.name} already exists; it was not overwritten."
            ) from None
        os.replace(tmp, dest)


def fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None and os.name != "nt":
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
