"""Opening a file for upload: a path the user (or a model) named is accepted only when it is a
regular media file inside an allowed folder.

It is resolved (``~``, ``..``, symlinks), then opened once (no-follow, non-blocking) and
everything else is checked on that handle: regular file, still inside the allowed folders,
content matching the extension, size. The upload reads from the same handle, so swapping the
file after the check changes nothing. URLs are handed to NemoVideo, never fetched here.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from nemo_mcp import constants
from nemo_mcp.contract.media import SUPPORTED_EXTENSIONS, MediaKind
from nemo_mcp.errors import FileTooLargeError, InvalidInputError, UnsafePathError
from nemo_mcp.errors import UnsupportedFileError as _UnsupportedFileError
from nemo_mcp.files.paths import exists, is_within, quoted_path, resolved
from nemo_mcp.media import containers

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
        found = [b / candidate for b in bases if exists(b / candidate)]
        inside = [b for b in bases if any(is_within(b.resolve(), r) for r in real_roots)]
        candidate = found[0] if found else (inside or bases)[0] / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError, ValueError) as err:  # a symlink loop raises RuntimeError
        raise UnsafePathError(
            f"{quoted_path(raw)} cannot be resolved to a file (a symlink loop, or a name the "
            "system refuses).",
        ) from err
    if not any(is_within(resolved, r) for r in real_roots):
        shown = ", ".join(str(r) for r in real_roots) or "(none configured)"
        raise UnsafePathError(
            f"{quoted_path(raw)} is outside the folders nemo-mcp may read ({shown}).",
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
    root = next((r for r in (resolved(r) for r in roots) if is_within(path, r)), None)
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
    name = shown or quoted_path(path.name)
    kind = containers.kind_of(path)
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
        if containers.family_for(path.suffix, _read_head(fd)) is None:
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


def dedupe(values: Iterable[str]) -> list[str]:
    """The values in their first-seen order, each once."""
    return list(dict.fromkeys(values))
