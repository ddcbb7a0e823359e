"""Every local path decision in one module: what may be read for upload, where exports land.

- ``upload_roots``: the folders uploads may come from. The user's setting (or the defaults) is
  the outer limit: a client's roots only narrow it, the disk root and the home folder itself are
  never allowed, and a broken setting is refused loudly.
- ``resolve_upload``: a path the user (or a model) named is accepted only when it is a regular
  media file inside an allowed folder. It is resolved (``~``, ``..``, symlinks), then opened
  once (no-follow, non-blocking) and everything else is checked on that handle: regular file,
  still inside the allowed folders, content matching the extension, size. The upload reads
  from the same handle, so swapping the file after the check changes nothing.
- ``choose_output_path``: exports go to the output folder and never overwrite silently.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from nemo_mcp import constants, media
from nemo_mcp.contract.media import SUPPORTED_EXTENSIONS, MediaKind
from nemo_mcp.errors import (
    ConfigError,
    FileTooLargeError,
    InvalidInputError,
    UnsafePathError,
)
from nemo_mcp.errors import UnsupportedFileError as _UnsupportedFileError

# no-follow (the last component must not be a symlink), non-blocking (a FIFO cannot stall the
# open), close-on-exec; each is 0 where the platform lacks it
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


@dataclass
class UploadCandidate:
    """A media file checked for upload, held open: upload ``handle``, never ``path`` again."""

    path: Path
    size: int
    kind: MediaKind
    handle: BinaryIO | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()

    def __enter__(self) -> UploadCandidate:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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


def _lexists(path: Path) -> bool:
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


# --- the allowed folders ------------------------------------------------------------------


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


def _resolved(folder: Path) -> Path:
    try:
        return folder.expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return folder.expanduser().absolute()


_SETTING_HINT = (
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
        raise ConfigError(problem, hint=_SETTING_HINT)
    roots: list[Path] = []
    for folder in dirs:
        real = _resolved(folder)
        why = too_broad(real)
        if why:
            raise ConfigError(
                f"The upload folders include {real} ({why}); nemo-mcp never lets a model read "
                "everything there.",
                hint=_SETTING_HINT,
            )
        if not real.is_dir():
            raise ConfigError(
                f"The upload folder {real} does not exist (or is not a folder).",
                hint=_SETTING_HINT,
            )
        if real not in roots:
            roots.append(real)
    if not roots:
        raise ConfigError("No upload folder is configured.", hint=_SETTING_HINT)
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
    for root in (_resolved(r) for r in client_roots):
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


# --- resolving and opening an upload ------------------------------------------------------


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


def _handle_path(fd: int) -> Path | None:
    """Where the open file really is, from the handle itself (None where the OS cannot say)."""
    if sys.platform.startswith("linux"):
        try:
            return Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return None
    if sys.platform == "darwin":  # pragma: no cover - not run on the Linux CI
        import fcntl

        try:
            raw = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024))  # type: ignore[attr-defined]
        except OSError:
            return None
        return Path(os.fsdecode(raw.split(b"\x00", 1)[0]))
    return None


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _confined(fd: int, path: Path, st: os.stat_result, roots: Sequence[Path]) -> bool:
    """Is the open file (``fd``) the file ``path`` names now, inside a root?

    Both the handle's own path (where the OS tells it) and the name, resolved again and
    compared by device and inode with the handle, must agree: a folder on the way swapped for a
    symlink, before or after the open, shows up in one or the other.
    """
    real_roots = [r.expanduser().resolve() for r in roots]
    where = _handle_path(fd)
    if where is not None and not any(is_within(where, r) for r in real_roots):
        return False
    try:
        again = path.resolve(strict=True)
        named = os.stat(again)
    except (OSError, RuntimeError, ValueError):
        return False
    return any(is_within(again, r) for r in real_roots) and _same_file(named, st)


_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _open_beneath(path: Path, roots: Sequence[Path]) -> int:
    """Open ``path`` (resolved, inside a root) without following a symlink anywhere below the
    root: each folder on the way, then the file, is opened relative to the one before with
    no-follow. A folder swapped for a symlink after the path was resolved fails the open
    (``ELOOP`` / ``ENOTDIR``) instead of leading outside. Where the platform cannot open
    relative to a folder, the path is opened as a whole (the handle checks still apply)."""
    root = next((r for r in (_resolved(r) for r in roots) if is_within(path, r)), None)
    if root is None or os.open not in os.supports_dir_fd or path == root:
        return os.open(path, _OPEN_FLAGS)
    *folders, leaf = path.relative_to(root).parts
    dir_fd = os.open(root, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))
    try:
        for folder in folders:
            inner = os.open(folder, _DIR_FLAGS, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = inner
        return os.open(leaf, _OPEN_FLAGS, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def _read_head(fd: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, constants.SNIFF_BYTES, 0)
    head = os.read(fd, constants.SNIFF_BYTES)  # pragma: no cover - Windows
    os.lseek(fd, 0, os.SEEK_SET)  # pragma: no cover
    return head  # pragma: no cover


def _blocking(fd: int) -> None:
    """Reads of the (regular) file may block from now on; it was opened non-blocking."""
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)


def open_media_file(
    path: Path, roots: Sequence[Path], *, max_bytes: int, shown: str | None = None
) -> UploadCandidate:
    """Open ``path`` (resolved) once and check the handle: see the module docstring."""
    name = shown or _shown(path.name)
    kind = media.kind_of(path)
    if kind is None:
        raise _UnsupportedFileError(f"{name} is not a supported media type.")
    try:
        fd = _open_beneath(path, roots)
    except OSError as err:
        raise _open_error(err, name) from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"{name} is not a regular file.")
        if not _confined(fd, path, st, roots):
            raise UnsafePathError(
                f"{name} changed while it was being checked (it now leads outside the folders "
                "nemo-mcp may read); nothing was read.",
            )
        _blocking(fd)
        if media.family_for(path.suffix, _read_head(fd)) is None:
            raise UnsafePathError(
                f"{name} does not contain {path.suffix.lstrip('.').upper()} media "
                "(its first bytes say otherwise).",
                hint="Only real media files can be uploaded; convert or re-export the file.",
            )
        if st.st_size > max_bytes:
            have, limit = st.st_size / 1_048_576, max_bytes / 1_048_576
            digits = 0 if round(have) > round(limit) else 2  # never "500 MB; the limit is 500 MB"
            raise FileTooLargeError(f"{name} is {have:.{digits}f} MB; the limit is {limit:.0f} MB.")
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return UploadCandidate(path=path, size=st.st_size, kind=kind, handle=handle)


def _open_error(err: OSError, name: str) -> Exception:
    if err.errno == errno.ENOENT:
        return InvalidInputError(
            f"No file at {name}.",
            hint="Check the path; relative paths are resolved against the working directory, "
            "then each allowed folder.",
        )
    if err.errno in (errno.ELOOP, errno.ENOTDIR):
        return UnsafePathError(
            f"{name} could not be opened as checked: it, or a folder on its way, became a "
            "symlink (or is not a folder) meanwhile; nothing was read."
        )
    if err.errno in (errno.EISDIR, errno.ENXIO):
        return UnsafePathError(f"{name} is not a regular file.")
    return UnsafePathError(
        f"{name} cannot be read ({err.strerror or type(err).__name__}).",
        hint="Check the file's permissions, or copy it into an allowed folder.",
    )


def resolve_upload(
    raw: str, roots: Sequence[Path], *, max_bytes: int, base: Path | None = None
) -> UploadCandidate:
    """Resolve, confine, open and check one upload; close the result (or use ``with``)."""
    return open_media_file(resolve_in_roots(raw, roots, base=base), roots, max_bytes=max_bytes)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def check_media_url(url: str) -> str:
    """URLs are handed to NemoVideo's URL upload, never fetched here; check shape and type."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInputError(f"{url[:200]!r} is not an http(s) URL.")
    ext = Path(unquote(parsed.path)).suffix.lower().lstrip(".")
    if ext and ext not in SUPPORTED_EXTENSIONS:
        raise _UnsupportedFileError(f"The URL points at a .{ext} file.")
    return url


_UNSAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)
_RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
)
# A name's length is counted in bytes (UTF-8; never fewer than the UTF-16 units Windows counts),
# leaving room for what is added to it: a free-name counter and the download's temporary suffix.
NAME_MAX_BYTES = 255
_COUNTER_RESERVE = len(" (9999)")
_PART_RESERVE = len(".abcdefgh.part")  # <name>.<8 random characters>.part, see client.download


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
        if not _lexists(target) or (overwrite and stat.S_ISREG(os.lstat(target).st_mode)):
            return target
        for n in range(2, 10_000):
            alt = folder / f"{stem} ({n}){suffix}"
            if not _lexists(alt):
                return alt
    except OSError as err:
        raise ConfigError(
            f"Cannot use the name {_shown(target.name)} in {folder}: {err.strerror or err}.",
            hint="Pass another filename, or set NEMO_MCP_OUTPUT_DIR to another folder.",
        ) from err
    raise InvalidInputError("Too many files with that name in the output folder.")


def dedupe(values: Iterable[str]) -> list[str]:
    """The values in their first-seen order, each once."""
    return list(dict.fromkeys(values))
