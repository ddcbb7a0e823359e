"""Downloading a rendered file: streamed, resumed, bounded, only from allowed hosts, atomic.

- Bytes go to a temporary ``<name>.<8 characters>.part`` file beside the destination (locked
  while in use, so a crashed run's leftovers can be swept), which is moved into place only when
  complete and removed on any failure; an existing file is never replaced unless asked.
- After a drop the download resumes with ``Range``; a host that ignores it starts over.
  Failed attempts in a row are limited (``DOWNLOAD_MAX_RESUMES``, reset only when the file grows
  past the most it ever held, so a host that drops at the same point cannot keep it going), and
  so are attempts in all (``DOWNLOAD_MAX_ATTEMPTS``) and the time of the whole download
  (``DOWNLOAD_MAX_SECONDS``).
- A file announced (``Content-Length`` / ``Content-Range``) or sent larger than
  ``MAX_DOWNLOAD_BYTES`` is refused.
- Redirects are followed by hand: the token goes to the API host only, and every hop (and the
  address each connection reached) passes ``netguard.AddressGuard``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
import httpx

from nemo_mcp import constants
from nemo_mcp.api.answers import safe_url
from nemo_mcp.api.netguard import AddressGuard
from nemo_mcp.api.records import DownloadResult
from nemo_mcp.api.transport import notify, timeout
from nemo_mcp.errors import DestinationExistsError, DownloadError, InvalidInputError
from nemo_mcp.faces import COMMANDS, Tool
from nemo_mcp.files import partial

log = logging.getLogger(__name__)

# on_progress(done_bytes, total_bytes); total is 0 when the size is not known yet.
DownloadProgress = Callable[[int, int], Awaitable[None] | None]
Backoff = Callable[[int], float]

_WAIT = f"{Tool.WAIT} / `{COMMANDS[Tool.WAIT]}`"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_CONTENT_RANGE_UNSAT_RE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


# Every this many bytes, what arrived is handed to the disk without waiting (``_start_writeback``)
WRITEBACK_EVERY = 32 * 1024 * 1024


def _start_writeback(out: IO[bytes], start: int, end: int) -> int:
    """Start writing ``start..end`` of the file to the disk, without waiting for it: the one
    fsync at the end then has little left to wait for, and a large download does not fill
    the page cache with dirty pages. Where the OS has no such advice, nothing happens."""
    if hasattr(os, "posix_fadvise"):
        out.flush()
        try:
            os.posix_fadvise(out.fileno(), start, end - start, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
    return end


class _Retryable(Exception):
    """Internal: a download attempt failed in a way worth another attempt."""


def _gb(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1_048_576:.0f} MB"


class Downloader:
    """Downloads for one ``NemoClient``: its HTTP client, its token, its address guard."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        guard: AddressGuard,
        api_headers: Callable[[], Awaitable[dict[str, str]]],
        sleep: Callable[[float], Awaitable[None]],
        backoff: Backoff,
    ) -> None:
        self._http = http
        self._guard = guard
        self._api_headers = api_headers
        self._sleep = sleep
        self._backoff = backoff

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        overwrite: bool = False,
        on_progress: DownloadProgress | None = None,
        expected_size: int | None = None,
    ) -> DownloadResult:
        dest = Path(dest)
        try:
            start = httpx.URL(url)
        except httpx.InvalidURL as err:
            raise InvalidInputError("That download link is not a valid URL.") from err
        if start.scheme not in ("http", "https"):
            raise InvalidInputError("Only http and https download links are supported.")
        if expected_size is not None and expected_size > constants.MAX_DOWNLOAD_BYTES:
            raise self._too_big(start, expected_size)
        if partial.taken(dest) and not (overwrite and dest.is_file() and not dest.is_symlink()):
            raise DestinationExistsError(f"{dest.name} already exists; it was not overwritten.")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = partial.create_part(dest)
        except OSError as err:
            raise DownloadError(
                f"Cannot write {dest.name!r} to the folder {dest.parent}: {err.strerror or err}.",
                hint="Choose another file name, or a folder you can write to "
                "(NEMO_MCP_OUTPUT_DIR).",
            ) from err
        try:
            partial.sweep_stale_parts(dest.parent)
            with os.fdopen(fd, "wb", buffering=constants.CHUNK_SIZE) as out:
                written, resumed = await self._fetch_within_deadline(
                    start, out, on_progress, expected_size
                )
                out.flush()
                await anyio.to_thread.run_sync(os.fsync, out.fileno())
            try:
                if os.name != "nt":
                    os.chmod(tmp, partial.file_mode())
                partial.place(tmp, dest, overwrite)
            except OSError as err:
                raise DownloadError(
                    f"The download finished but could not be saved as {dest.name!r}: "
                    f"{err.strerror or err}.",
                    hint="Choose another file name, or free space in the output folder.",
                ) from err
            partial.fsync_dir(dest.parent)
            log.info("downloaded %d bytes to %s (%d resume(s))", written, dest.name, resumed)
            return DownloadResult(path=dest, size=written, resumed=resumed)
        finally:
            tmp.unlink(missing_ok=True)

    def _too_big(self, url: httpx.URL, size: int, *, sent: bool = False) -> DownloadError:
        how = "sent more than" if sent else f"is {_gb(size)}, more than"
        return DownloadError(
            f"The download from {url.host} {how} the {_gb(constants.MAX_DOWNLOAD_BYTES)} "
            "nemo-mcp accepts for one video; nothing was saved.",
            hint="A rendered video is never that large: export again, and report it if the "
            "link keeps announcing that size.",
        )

    async def _fetch_within_deadline(
        self,
        start: httpx.URL,
        out: IO[bytes],
        on_progress: DownloadProgress | None,
        expected_size: int | None,
    ) -> tuple[int, int]:
        limit = constants.DOWNLOAD_MAX_SECONDS
        with anyio.move_on_after(limit):
            return await self._fetch_into(start, out, on_progress, expected_size)
        took = f"{limit / 60:.0f} minutes" if limit >= 120 else f"{limit:.0f} s"
        raise DownloadError(
            f"The download from {start.host} did not finish within {took}; what had arrived "
            "was discarded.",
            hint=f"Wait for the export again later ({_WAIT}): it downloads afresh.",
        )

    async def _fetch_into(
        self,
        start: httpx.URL,
        out: IO[bytes],
        on_progress: DownloadProgress | None,
        expected_size: int | None,
    ) -> tuple[int, int]:
        host = start.host
        cap = constants.MAX_DOWNLOAD_BYTES
        written = 0
        best = 0  # the most bytes the file ever held
        failures = 0  # failed attempts since the file last grew past ``best``
        attempts = 0
        resumed = 0
        total: int | None = expected_size
        flushed = 0  # bytes handed to the disk early (``_start_writeback``)
        while True:
            attempts += 1
            headers = {"Accept-Encoding": "identity"}
            if written:
                headers["Range"] = f"bytes={written}-"
            try:
                async with self._open(start, headers) as response:
                    status = response.status_code
                    if status == 416 and written:
                        match = _CONTENT_RANGE_UNSAT_RE.match(
                            response.headers.get("content-range", "")
                        )
                        if match and int(match.group(1)) == written:
                            total = written  # we already had every byte
                            break
                        raise _Retryable("range not satisfiable")
                    if written and status == 206:
                        match = _CONTENT_RANGE_RE.match(response.headers.get("content-range", ""))
                        if not match or int(match.group(1)) != written:
                            log.info("download resumed at the wrong offset; starting over")
                            out.seek(0)
                            out.truncate()
                            written = flushed = 0
                            raise _Retryable("bad content-range")
                        if match.group(3) != "*":
                            total = _agree(total, int(match.group(3)), host)
                    elif status == 200:
                        if written:
                            log.info("download host ignored the Range request; starting over")
                            out.seek(0)
                            out.truncate()
                            written = flushed = 0
                        encoded = response.headers.get("content-encoding", "identity").lower()
                        length = response.headers.get("content-length")
                        if encoded in ("", "identity") and length and length.isdigit():
                            total = _agree(total, int(length), host)
                    elif status == 206:  # a range answer to a request without Range
                        match = _CONTENT_RANGE_RE.match(response.headers.get("content-range", ""))
                        if not match or int(match.group(1)) != 0:
                            raise DownloadError(f"The download from {host} sent a partial file.")
                        if match.group(3) != "*":
                            total = _agree(total, int(match.group(3)), host)
                    if total is not None and total > cap:
                        raise self._too_big(start, total)
                    encoded = response.headers.get("content-encoding", "identity").lower()
                    # Bytes are written as they arrive (a re-chunking buffer would lose what it
                    # holds when the connection drops); the file object batches the disk writes.
                    chunks = (
                        response.aiter_raw()
                        if encoded in ("", "identity")
                        else response.aiter_bytes()
                    )
                    async for chunk in chunks:
                        out.write(chunk)
                        written += len(chunk)
                        if written - flushed >= WRITEBACK_EVERY:
                            flushed = _start_writeback(out, flushed, written)
                        if written > cap:
                            raise self._too_big(start, written, sent=True)
                        if total is not None and written > total:
                            raise DownloadError(
                                f"The download from {host} sent more than the expected "
                                f"{total} bytes; the file was discarded."
                            )
                        if on_progress is not None:
                            await notify(on_progress, written, total or 0)
                    if total is not None and written < total:
                        raise _Retryable("body ended early")
                    break
            except (httpx.TransportError, _Retryable) as exc:
                if written > best:  # real progress: the failures so far are forgiven
                    best = written
                    failures = 0
                failures += 1
                if failures > constants.DOWNLOAD_MAX_RESUMES or (
                    attempts >= constants.DOWNLOAD_MAX_ATTEMPTS
                ):
                    raise DownloadError(
                        f"The download from {host} kept failing ({attempts} attempts, at most "
                        f"{best} bytes received; last: {type(exc).__name__}); nothing was saved.",
                        hint=f"Wait for the export again later ({_WAIT}): it downloads afresh.",
                    ) from exc
                if written:
                    resumed += 1
                delay = self._backoff(failures - 1)
                log.info(
                    "download from %s interrupted at %d bytes (%s); retrying in %.1f s",
                    host,
                    written,
                    type(exc).__name__,
                    delay,
                )
                await self._sleep(delay)
        if expected_size is not None and written != expected_size:
            raise DownloadError(
                f"The download from {host} has {written} bytes, expected {expected_size}; "
                "the file was discarded."
            )
        if total is not None and written != total:
            raise DownloadError(
                f"The download from {host} has {written} bytes, the server announced {total}; "
                "the file was discarded."
            )
        return written, resumed

    @asynccontextmanager
    async def _open(
        self, start: httpx.URL, headers: dict[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """GET ``start``, following redirects by hand; every hop is checked by the guard."""
        url = start
        limits = timeout(constants.READ_TIMEOUT)
        for _hop in range(constants.MAX_REDIRECTS + 1):
            await self._guard.check_url(url)
            hop_headers = dict(headers)
            if self._guard.same_origin(url):
                hop_headers.update(await self._api_headers())
            request = self._http.build_request("GET", url, headers=hop_headers, timeout=limits)
            log.debug("GET %s", safe_url(url))
            response = await self._http.send(request, stream=True)
            try:
                await self._guard.check_peer(url, response)
            except BaseException:
                await response.aclose()
                raise
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                location = response.headers["location"]
                await response.aclose()
                try:
                    following = url.join(location)
                except httpx.InvalidURL as err:
                    raise DownloadError(
                        f"The download from {start.host} redirected to an invalid address."
                    ) from err
                if following.scheme not in ("http", "https") or (
                    url.scheme == "https" and following.scheme == "http"
                ):
                    raise DownloadError(
                        f"The download from {start.host} redirected to an unsafe address."
                    )
                url = following
                continue
            if status not in (200, 206, 416):
                await response.aclose()
                if status in constants.RETRYABLE_STATUSES:
                    raise _Retryable(f"HTTP {status}")
                hint = (
                    "The download link may have expired: ask for the export status again to get "
                    "a fresh one."
                    if status in (401, 403, 404, 410)
                    else None
                )
                raise DownloadError(
                    f"The download from {url.host} answered HTTP {status}.",
                    hint=hint,
                    status=status,
                )
            try:
                yield response
            finally:
                await response.aclose()
            return
        raise DownloadError(f"The download from {start.host} redirected too many times.")


def _agree(known: int | None, announced: int, host: str | None) -> int:
    if known is not None and known != announced:
        raise DownloadError(
            f"The download from {host} is {announced} bytes, expected {known}; nothing was saved."
        )
    return announced
