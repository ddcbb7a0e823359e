"""Where exports land: portable file names, and a free name in the output folder (never
overwriting silently)."""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path

from nemo_mcp.errors import ConfigError, InvalidInputError
from nemo_mcp.files.partial import PART_SUFFIX_CHARS
from nemo_mcp.files.paths import lexists, quoted_path

_UNSAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)
_RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
)
# A name's length is counted in bytes (UTF-8; never fewer than the UTF-16 units Windows counts),
# leaving room for what is added to it: a free-name counter and the download's temporary suffix.
NAME_MAX_BYTES = 255
_COUNTER_RESERVE = len(" (9999)")
_PART_RESERVE = PART_SUFFIX_CHARS


def _fit(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, on a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max(0, max_bytes)].decode("utf-8", "ignore")


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) the folder's file system takes (255 when it cannot say)."""
    try:
        return min(NAME_MAX_BYTES, int(os.pathconf(folder, "PC_NAME_MAX")))
    except (AttributeError, OSError, ValueError):
        return NAME_MAX_BYTES


def safe_filename(name: str, *, default: str = "nemovideo", suffix: str = ".mp4") -> str:
    """A portable file name: no separators, control characters or reserved Windows names; at
    most 80 characters, and short enough in bytes for a counter and the download's temporary
    suffix to fit any common file system."""
    name = unicodedata.normalize("NFC", name)
    stem = Path(name).stem if name.lower().endswith(suffix) else name
    budget = NAME_MAX_BYTES - _COUNTER_RESERVE - _PART_RESERVE - len(suffix.encode("utf-8"))
    stem = _fit(_UNSAFE_NAME.sub("_", stem).strip(" ._")[:80], budget).strip(" ._")
    if not stem or stem.upper() in _RESERVED_NAMES:
        stem = default
    return stem + suffix


def choose_output_path(folder: Path, name: str, *, overwrite: bool = False) -> Path:
    """``folder/name``, or ``name (2).mp4`` etc. when taken: never overwrite silently.

    Anything already at the name counts as taken (a folder, a dangling symlink); ``overwrite``
    replaces only a regular file. The name is shortened to what the folder's file system takes,
    with room left for the download's temporary suffix.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"Cannot create the output folder {folder}: {err.strerror or err}.",
            hint="Set NEMO_MCP_OUTPUT_DIR to a folder you can write to.",
        ) from err
    suffix = Path(name).suffix if len(Path(name).suffix) <= 8 else ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    budget = _name_max(folder) - _PART_RESERVE - _COUNTER_RESERVE - len(suffix.encode("utf-8"))
    stem = _fit(stem, budget) or "nemovideo"
    target = folder / f"{stem}{suffix}"
    try:
        if not lexists(target) or (overwrite and stat.S_ISREG(os.lstat(target).st_mode)):
            return target
        for n in range(2, 10_000):
            alt = folder / f"{stem} ({n}){suffix}"
            if not lexists(alt):
                return alt
    except OSError as err:
        raise ConfigError(
            f"Cannot use the name {quoted_path(target.name)} in {folder}: {err.strerror or err}.",
            hint="Pass another filename, or set NEMO_MCP_OUTPUT_DIR to another folder.",
        ) from err
    raise InvalidInputError("Too many files with that name in the output folder.")
