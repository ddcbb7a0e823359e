"""Uploads: multipart bodies parsed incrementally and streamed to disk, and uploads by URL.

A multipart request is never held in memory: each chunk from the socket goes through
python-multipart's push parser, and each ``files`` part is written to its final place as it
arrives (hashing on the way). A part over the size limit or with an unsupported extension stops
being written at once; the rest of the body is read and discarded so the client gets a clean
answer (4002 / 4001) instead of a broken connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mimetypes
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import unquote, urlsplit

import anyio
import httpx
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from nemo_mcp import constants
from nemo_mcp.addresses import is_loopback, parse
from nemo_mcp.contract import codes
from nemo_mcp.contract.media import MIME_TYPES, SUPPORTED_EXTENSIONS, MediaKind, media_kind
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.envelope import Reject
from nemo_mcp.emulator.records import Media
from nemo_mcp.emulator.render import media
from nemo_mcp.emulator.state import EmulatorState

log = logging.getLogger(__name__)

FILE_FIELD: Final = "files"
MAX_FIELD_BYTES: Final = 64 * 1024
FETCH_TIMEOUT: Final = 60.0
_EXT_BY_MIME: Final = {v: k for k, v in reversed(list(MIME_TYPES.items()))}


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    media_id: str | None = None
    safe_name: str | None = None
    path: Path | None = None
    fh: IO[bytes] | None = None
    size: int = 0
    md5: Any = None
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Saved:
    """One file written to the media folder, before it becomes a :class:`Media`."""

    media_id: str
    filename: str
    path: Path
    size: int
    hash: str
    kind: MediaKind
    source_url: str | None = None


def extension_of(name: str) -> str:
    return Path(name).suffix.lower().lstrip(".")


def check_extension(name: str) -> MediaKind:
    kind = media_kind(extension_of(name))
    if kind is None:
        raise Reject(
            codes.UNSUPPORTED_FILE,
            f"Unsupported file type: {name!r}. Supported: " + ", ".join(SUPPORTED_EXTENSIONS),
        )
    return kind


def too_large(name: str, limit: int) -> Reject:
    return Reject(
        codes.FILE_TOO_LARGE,
        f"File too large: {name!r} is over the {limit / (1024 * 1024):.0f} MB limit",
    )


class MultipartSink:
    """Feeds a multipart body to python-multipart and writes ``files`` parts to disk."""

    def __init__(self, state: EmulatorState, boundary: bytes, limit: int) -> None:
        self.state = state
        self.limit = limit
        self.saved: list[Saved] = []
        self.error: Reject | None = None
        self._part = _Part()
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._headers: dict[str, str] = {}
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._begin,
                "on_header_field": self._hfield,
                "on_header_value": self._hval,
                "on_header_end": self._hend,
                "on_headers_finished": self._headers_done,
                "on_part_data": self._data,
                "on_part_end": self._end,
            },
        )

    # --- parser callbacks ---------------------------------------------------------------------
    def _begin(self) -> None:
        self._part = _Part()
        self._headers = {}

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _hval(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def _hend(self) -> None:
        # Kept byte for byte (latin-1): a UTF-8 file name is decoded after the header is parsed,
        # since the parser re-encodes values as latin-1.
        self._headers[self._hname.decode("latin-1").lower()] = self._hvalue.decode("latin-1")
        self._hname.clear()
        self._hvalue.clear()

    def _headers_done(self) -> None:
        part = self._part
        disposition = self._headers.get("content-disposition", "")
        _, options = parse_options_header(disposition)
        raw_name = options.get(b"name")
        raw_filename = options.get(b"filename*") or options.get(b"filename")
        part.name = raw_name.decode("utf-8", "replace") if raw_name else None
        if raw_filename is not None:
            text = raw_filename.decode("utf-8", "replace")
            if text.lower().startswith("utf-8''"):
                text = unquote(text[7:])
            part.filename = text
        part.content_type = self._headers.get("content-type")
        if self.error is not None or part.filename is None:
            return
        if part.name not in (FILE_FIELD, FILE_FIELD[:-1], f"{FILE_FIELD}[]"):
            return
        try:
            name = self._named(part)
            check_extension(name)
        except Reject as reject:
            self.error = reject
            return
        part.media_id, part.safe_name, part.path = self.state.new_media_slot(name)
        part.fh = part.path.open("wb")
        part.md5 = hashlib.md5()

    def _named(self, part: _Part) -> str:
        name = part.filename or "upload"
        if not extension_of(name) and part.content_type:
            ext = _EXT_BY_MIME.get(part.content_type.split(";")[0].strip().lower())
            if ext:
                name = f"{name}.{ext}"
        return name

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.fh is not None:
            if part.size + (end - start) > self.limit:
                self.error = too_large(part.filename or "upload", self.limit)
                self._abandon(part)
                return
            chunk = data[start:end]
            part.fh.write(chunk)
            part.md5.update(chunk)
            part.size += len(chunk)
        elif part.filename is None and len(part.data) < MAX_FIELD_BYTES:
            part.data += data[start:end]

    def _end(self) -> None:
        part = self._part
        self._part = _Part()  # the finished part is no longer "current"
        if part.fh is None or part.path is None or part.media_id is None:
            return
        part.fh.close()
        part.fh = None
        name = self._named(part)
        self.saved.append(
            Saved(
                media_id=part.media_id,
                filename=part.safe_name or name,
                path=part.path,
                size=part.size,
                hash=part.md5.hexdigest(),
                kind=check_extension(name),
            )
        )

    def _abandon(self, part: _Part) -> None:
        if part.fh is not None:
            part.fh.close()
            part.fh = None
        if part.media_id is not None:
            self.state.discard_media_folder(part.media_id)

    # --- driving --------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            if self.error is None:
                self.error = Reject(400, f"Malformed multipart body: {exc}")

    def finish(self) -> None:
        with contextlib.suppress(MultipartParseError):
            self.parser.finalize()
        self._abandon(self._part)

    def discard_all(self) -> None:
        self._abandon(self._part)
        for saved in self.saved:
            self.state.discard_media_folder(saved.media_id)
        self.saved.clear()


async def receive_multipart(
    state: EmulatorState, content_type: str, chunks: AsyncIterator[bytes], limit: int
) -> list[Saved]:
    """Parse a streamed multipart body into saved files (4001 / 4002 / 400 on problems)."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise Reject(400, "multipart body without a boundary")
    sink = MultipartSink(state, boundary, limit)
    try:
        async for chunk in chunks:
            if sink.error is None:
                sink.feed(chunk)
            # after an error the rest of the body is read and dropped
        sink.finish()
    except BaseException:
        sink.discard_all()
        raise
    if sink.error is not None:
        sink.discard_all()
        raise sink.error
    if not sink.saved:
        raise Reject(400, f"No files in the upload; send them as multipart field {FILE_FIELD!r}")
    return sink.saved


# --- URL uploads ----------------------------------------------------------------------------------
def _is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this computer: a loopback address or name, or a name that resolves only
    to loopback addresses."""
    if is_loopback(host):
        return True
    if parse(host) is not None:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(is_loopback(str(i[4][0])) for i in infos)


def url_filename(url: str) -> str:
    parts = urlsplit(url)
    return unquote(Path(parts.path).name) or parts.netloc or "download"


async def fetch_url(
    state: EmulatorState, url: str, config: EmulatorConfig, *, local_client: bool
) -> Saved | None:
    """Fetch a ``file://`` or (by policy) ``http(s)`` URL into the media folder.

    Returns None when policy says to record the URL without fetching it. Only a client on this
    machine (``local_client``) may have files or loopback URLs fetched, so an emulator bound to
    a public address cannot be used to read local files or reach local services.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    limit = config.upload_limit_bytes
    if scheme == "file":
        if not local_client:
            raise Reject(400, "file:// URLs are only accepted from this machine")
        if config.url_fetch == "none":
            return None
        src = Path(unquote(parts.path))
        name = src.name
        kind = check_extension(name)
        if not src.is_file():
            raise Reject(400, f"Cannot read {url!r}: no such file")
        if src.stat().st_size > limit:
            raise too_large(name, limit)
        media_id, safe, dest = state.new_media_slot(name)
        try:
            digest = await anyio.to_thread.run_sync(_copy_hashing, src, dest)
        except OSError as exc:
            state.discard_media_folder(media_id)
            raise Reject(400, f"Cannot read {url!r}: {exc.strerror or exc}") from None
        return Saved(media_id, safe, dest, dest.stat().st_size, digest, kind, url)
    if scheme not in ("http", "https"):
        raise Reject(400, f"Unsupported URL scheme in {url!r}; use http(s) or file")
    host = parts.hostname or ""
    loopback = await anyio.to_thread.run_sync(_is_loopback_host, host)
    if config.url_fetch == "none" or (config.url_fetch == "loopback" and not loopback):
        return None
    if not local_client:
        return None  # recorded, never fetched on behalf of another machine
    name = url_filename(url)
    return await _download(state, url, name, limit)


def _copy_hashing(src: Path, dest: Path) -> str:
    md5 = hashlib.md5()
    with src.open("rb") as fin, dest.open("wb") as fout:
        while chunk := fin.read(constants.CHUNK_SIZE):
            md5.update(chunk)
            fout.write(chunk)
    return md5.hexdigest()


async def _download(state: EmulatorState, url: str, name: str, limit: int) -> Saved:
    timeout = httpx.Timeout(FETCH_TIMEOUT, connect=constants.CONNECT_TIMEOUT)
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=True, trust_env=False) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code != 200:
            raise Reject(400, f"Fetching {url!r} failed: HTTP {response.status_code}")
        if not extension_of(name):
            mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
            ext = _EXT_BY_MIME.get(mime) or (mimetypes.guess_extension(mime) or "").lstrip(".")
            if ext:
                name = f"{name}.{ext}"
        kind = check_extension(name)
        media_id, safe, dest = state.new_media_slot(name)
        md5 = hashlib.md5()
        size = 0
        try:
            with dest.open("wb") as fh:
                async for chunk in response.aiter_bytes(constants.CHUNK_SIZE):
                    size += len(chunk)
                    if size > limit:
                        raise too_large(name, limit)
                    md5.update(chunk)
                    fh.write(chunk)
        except BaseException:
            state.discard_media_folder(media_id)
            raise
        return Saved(media_id, safe, dest, size, md5.hexdigest(), kind, url)


def guess_recorded(url: str) -> tuple[str, MediaKind]:
    """File name and kind for a URL that is recorded but not fetched (by its extension)."""
    name = url_filename(url)
    return name, check_extension(name)


async def to_media(state: EmulatorState, session_id: str, saved: Saved) -> Media:
    """Probe a saved file (in a worker thread) and register it."""
    info = await anyio.to_thread.run_sync(media.probe, saved.path, saved.kind)
    item = Media(
        media_id=saved.media_id,
        session_id=session_id,
        filename=saved.filename,
        file_type=saved.kind,
        rel_path=f"{saved.media_id}/{saved.path.name}",
        size=saved.size,
        hash=saved.hash,
        info=info,
        source_url=saved.source_url,
        created_at=time.time(),
    )
    state.add_media(item)
    return item
