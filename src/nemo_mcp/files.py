"""Every local path decision in one module: what may be read for upload, where exports land.

- ``resolve_upload``: a path the user (or a model) named is accepted only when it is a regular
  media file inside an allowed folder, after resolving ``~``, ``..`` and symlinks; its bytes must
  match its extension, and its size the active skill's limit.
- ``choose_output_path``: exports go to the output folder and never overwrite silently.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from nemo_mcp import contract, media
from nemo_mcp.errors import FileTooLargeError, InvalidInputError, UnsafePathError
from nemo_mcp.errors import UnsupportedFileError as _UnsupportedFileError


@dataclass(frozen=True)
class UploadCandidate:
    path: Path
    size: int
    kind: contract.MediaKind


def _as_path(raw: str) -> Path:
    if "\x00" in raw:
        raise UnsafePathError("The path contains a NUL byte.")
    text = raw.strip().strip('"').strip("'")
    if text.startswith("file://"):
        parsed = urlparse(text)
        text = unquote(parsed.path)
        if "\x00" in text:  # smuggled in as %00
            raise UnsafePathError("The path contains a NUL byte.")
        if os.name == "nt" and re.match(r"^/[A-Za-z]:", text):
            text = text[1:]
    if not text:
        raise InvalidInputError("An empty path was given.", hint="Pass the media file's path.")
    return Path(text).expanduser()


def _shown(raw: str) -> str:
    """A user's path for a message: quoted, and shortened when it is very long."""
    return repr(raw if len(raw) <= 160 else f"{raw[:100]}...{raw[-40:]}")


def _exists(path: Path) -> bool:
    """``path.exists()``, False for names the OS refuses outright (too long, bad bytes)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` (already resolved) is ``root`` or inside it."""
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def resolve_in_roots(raw: str, roots: Sequence[Path], *, base: Path | None = None) -> Path:
    """Resolve a user path (absolute, relative to ``base``, ``~`` or ``file://``) inside a root.

    Symlinks are followed before the check (a link inside a root pointing out is refused), and
    the check is on path components, so ``/media_evil`` is not inside ``/media``.
    """
    candidate = _as_path(raw)
    real_roots = [r.expanduser().resolve() for r in roots]
    if not candidate.is_absolute():
        # relative to the working directory (or ``base``), else to the first root holding it
        bases = [base or Path.cwd(), *real_roots]
        found = [b / candidate for b in bases if _exists(b / candidate)]
        inside = [b for b in bases if any(is_within(b.resolve(), r) for r in real_roots)]
        candidate = found[0] if found else (inside or bases)[0] / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError, ValueError) as err:  # a symlink loop raises RuntimeError
        raise UnsafePathError(
            f"{_shown(raw)} cannot be resolved to a file (a symlink loop, or a name the "
            "system refuses).",
        ) from err
    if not any(is_within(resolved, r) for r in real_roots):
        shown = ", ".join(str(r) for r in real_roots) or "(none configured)"
        raise UnsafePathError(
            f"{_shown(raw)} is outside the folders nemo-mcp may read ({shown}).",
        )
    return resolved


def check_media_file(path: Path, *, max_bytes: int) -> UploadCandidate:
    """Refuse anything but a regular media file of a supported type within the size limit."""
    try:
        return _check_media_file(path, max_bytes=max_bytes)
    except OSError as err:  # unreadable, or gone meanwhile
        raise UnsafePathError(
            f"{_shown(path.name)} cannot be read ({err.strerror or type(err).__name__}).",
            hint="Check the file's permissions, or copy it into an allowed folder.",
        ) from err


def _check_media_file(path: Path, *, max_bytes: int) -> UploadCandidate:
    if not _exists(path):
        raise InvalidInputError(
            f"No file at {path.name!r}.",
            hint="Check the path; relative paths are resolved against the working directory, "
            "then each allowed folder.",
        )
    if not path.is_file():
        raise UnsafePathError(f"{path.name!r} is not a regular file.")
    kind = media.kind_of(path)
    if kind is None:
        raise _UnsupportedFileError(f"{path.name!r} is not a supported media type.")
    if not media.content_matches_extension(path):
        raise UnsafePathError(
            f"{path.name!r} does not contain {path.suffix.lstrip('.').upper()} media "
            "(its first bytes say otherwise).",
            hint="Only real media files can be uploaded; convert or re-export the file.",
        )
    size = path.stat().st_size
    if size > max_bytes:
        have, limit = size / 1_048_576, max_bytes / 1_048_576
        digits = 0 if round(have) > round(limit) else 2  # never "500 MB; the limit is 500 MB"
        raise FileTooLargeError(
            f"{_shown(path.name)} is {have:.{digits}f} MB; the limit is {limit:.0f} MB."
        )
    return UploadCandidate(path=path, size=size, kind=kind)


def resolve_upload(
    raw: str, roots: Sequence[Path], *, max_bytes: int, base: Path | None = None
) -> UploadCandidate:
    return check_media_file(resolve_in_roots(raw, roots, base=base), max_bytes=max_bytes)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def check_media_url(url: str) -> str:
    """URLs are handed to NemoVideo's URL upload, never fetched here; check shape and type."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInputError(f"{url[:200]!r} is not an http(s) URL.")
    ext = Path(unquote(parsed.path)).suffix.lower().lstrip(".")
    if ext and ext not in contract.SUPPORTED_EXTENSIONS:
        raise _UnsupportedFileError(f"The URL points at a .{ext} file.")
    return url


_UNSAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_filename(name: str, *, default: str = "nemovideo", suffix: str = ".mp4") -> str:
    """A portable file name: no separators, control characters or reserved Windows names."""
    name = unicodedata.normalize("NFC", name)
    stem = Path(name).stem if name.lower().endswith(suffix) else name
    stem = _UNSAFE_NAME.sub("_", stem).strip(" ._")[:80]
    if not stem or stem.upper() in {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10))}:
        stem = default
    return stem + suffix


def choose_output_path(folder: Path, name: str, *, overwrite: bool = False) -> Path:
    """``folder/name``, or ``name (2).mp4`` etc. when taken: never overwrite silently."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if overwrite or not target.exists():
        return target
    stem, suffix = target.stem, target.suffix
    for n in range(2, 10_000):
        alt = folder / f"{stem} ({n}){suffix}"
        if not alt.exists():
            return alt
    raise InvalidInputError("Too many files with that name in the output folder.")


def dedupe(values: Iterable[str]) -> list[str]:
    """The values in their first-seen order, each once."""
    return list(dict.fromkeys(values))
