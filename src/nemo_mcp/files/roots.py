"""The folders uploads may come from.

The user's setting (``NEMO_MCP_ALLOWED_DIRS``, or the defaults) is the outer limit: a client's
roots only narrow it, the disk root and the home folder itself are never allowed, and a broken
setting is refused loudly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nemo_mcp.errors import ConfigError, UnsafePathError
from nemo_mcp.files.paths import is_within, resolved


def too_broad(folder: Path) -> str | None:
    """Why ``folder`` (resolved) can never be an upload root, or None when it can."""
    if folder == Path(folder.anchor):
        return "the root of the disk"
    try:
        home = Path.home().resolve()
    except (OSError, RuntimeError):
        return None
    if folder == home:
        return "your home folder itself"
    if is_within(home, folder):
        return "a folder holding your home folder"
    return None


SETTING_HINT = (
    "Set NEMO_MCP_ALLOWED_DIRS to the folders holding your media, separated by "
    f"{os.pathsep!r} (for example ~/Music{os.pathsep}~/Videos), or remove it to use the "
    "defaults (the working directory and your Music, Videos, Pictures, Downloads, Desktop and "
    "Documents folders)."
)


def configured_roots(dirs: Sequence[Path], *, problem: str | None = None) -> list[Path]:
    """The configured upload folders, resolved; a ``ConfigError`` when the setting is unusable.

    Every folder must exist and be narrower than the home folder; a setting that names none
    (empty, an unfilled ``${...}`` template) is refused, never replaced by the defaults.
    """
    if problem:
        raise ConfigError(problem, hint=SETTING_HINT)
    roots: list[Path] = []
    for folder in dirs:
        real = resolved(folder)
        why = too_broad(real)
        if why:
            raise ConfigError(
                f"The upload folders include {real} ({why}); nemo-mcp never lets a model read "
                "everything there.",
                hint=SETTING_HINT,
            )
        if not real.is_dir():
            raise ConfigError(
                f"The upload folder {real} does not exist (or is not a folder).",
                hint=SETTING_HINT,
            )
        if real not in roots:
            roots.append(real)
    if not roots:
        raise ConfigError("No upload folder is configured.", hint=SETTING_HINT)
    return roots


def upload_roots(
    dirs: Sequence[Path],
    client_roots: Sequence[Path] | None = None,
    *,
    problem: str | None = None,
) -> list[Path]:
    """Where uploads may come from: the configured folders, narrowed by the client's roots.

    A client's roots never widen the configured folders: the result is where the two overlap
    (a root inside a configured folder, or a configured folder inside a root).
    """
    configured = configured_roots(dirs, problem=problem)
    if not client_roots:
        return configured
    overlap: list[Path] = []
    for root in (resolved(r) for r in client_roots):
        for folder in configured:
            inner = root if is_within(root, folder) else folder if is_within(folder, root) else None
            if inner is not None and inner not in overlap:
                overlap.append(inner)
    if not overlap:
        shown = ", ".join(str(r) for r in client_roots[:4])
        allowed = ", ".join(str(r) for r in configured[:6])
        raise UnsafePathError(
            f"The client limits file access to {shown}, which does not overlap the folders "
            f"nemo-mcp may read ({allowed}).",
            hint="Add the media's folder to the client's roots and to NEMO_MCP_ALLOWED_DIRS.",
        )
    return overlap
