"""Small path helpers for the files room: containment, resolution, and paths in messages."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def quoted_path(raw: str) -> str:
    """A user's path for a message: quoted, and shortened when it is very long."""
    return repr(raw if len(raw) <= 160 else f"{raw[:100]}...{raw[-40:]}")


def exists(path: Path) -> bool:
    """``path.exists()``, False for names the OS refuses outright (too long, bad bytes)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def lexists(path: Path) -> bool:
    """Whether anything (a dangling symlink included) has this name; True when unsure."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as err:
        if err.errno == errno.ENOTDIR:
            return False
        raise
    return True


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` (already resolved) is ``root`` or inside it."""
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def resolved(folder: Path) -> Path:
    try:
        return folder.expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return folder.expanduser().absolute()
