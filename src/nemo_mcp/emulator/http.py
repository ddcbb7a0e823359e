"""ASGI-level helpers: breaking connections on purpose, byte ranges, truncated bodies.

To drop or reset a connection the emulator needs the socket under the request. uvicorn does not
put it in the ASGI scope, so :func:`tracked_protocol` subclasses uvicorn's h11 protocol to keep a
registry of live transports keyed by the peer address (which the scope does carry). When the app
runs under another server the registry is empty and the helpers fall back to raising inside the
response, which also leaves the client with a broken (not a cleanly ended) response.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import struct
from email.utils import formatdate
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.lowlevel
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

FILE_CHUNK: Final = 256 * 1024
FLUSH_WAIT: Final = 2.0
HANG_MAX_SECONDS: Final = 15 * 60.0

PeerKey = tuple[str, int]


class EmulatedBreak(Exception):
    """Raised inside a response to break it when the socket cannot be reached directly."""


class Connections:
    """Live transports by peer address, filled by :func:`tracked_protocol`."""

    def __init__(self) -> None:
        self._by_peer: dict[PeerKey, asyncio.Transport] = {}

    @staticmethod
    def _key(peer: Any) -> PeerKey | None:
        if isinstance(peer, (tuple, list)) and len(peer) >= 2:
            return (str(peer[0]), int(peer[1]))
        return None

    def add(self, transport: asyncio.Transport) -> None:
        key = self._key(transport.get_extra_info("peername"))
        if key is not None:
            self._by_peer[key] = transport

    def remove(self, transport: asyncio.Transport | None) -> None:
        if transport is None:
            return
        key = self._key(transport.get_extra_info("peername"))
        if key is not None and self._by_peer.get(key) is transport:
            del self._by_peer[key]

    def find(self, scope: Scope) -> asyncio.Transport | None:
        key = self._key(scope.get("client"))
        return self._by_peer.get(key) if key is not None else None

    async def close(self, scope: Scope, *, reset: bool) -> bool:
        """Close the request's connection now: a TCP reset, or a FIN after flushing what was
        already written. False when the connection is not tracked."""
        transport = self.find(scope)
        if transport is None:
            return False
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return True
        deadline = anyio.current_time() + FLUSH_WAIT
        # asyncio has no event for "write buffer drained", so poll it briefly
        while (  # noqa: ASYNC110
            transport.get_write_buffer_size() > 0
            and not transport.is_closing()
            and anyio.current_time() < deadline
        ):
            await anyio.sleep(0.01)
        transport.close()
        # let the loop process the close before the app returns
        await anyio.lowlevel.checkpoint()
        return True


def _no_delay(transport: asyncio.Transport) -> None:
    """Turn Nagle's algorithm off. asyncio does it only for sockets created with
    ``IPPROTO_TCP``, not for connections accepted on a socket we bound ourselves; without it
    every response after the first on a kept-alive connection waits ~40 ms for a delayed ACK
    (headers and body are separate writes)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tracked_protocol(connections: Connections) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class that registers its transport in ``connections``."""

    class TrackedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            if isinstance(transport, asyncio.Transport):
                _no_delay(transport)
                connections.add(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            connections.remove(self.transport)
            super().connection_lost(exc)

    return TrackedH11Protocol


async def break_connection(connections: Connections, scope: Scope, *, reset: bool) -> None:
    """Close the connection abruptly, or raise :class:`EmulatedBreak` if it is not tracked."""
    if not await connections.close(scope, reset=reset):
        raise EmulatedBreak("connection broken on purpose")


async def wait_for_disconnect(receive: Receive, limit: float = HANG_MAX_SECONDS) -> None:
    """Block until the client goes away (or ``limit`` seconds)."""
    with anyio.move_on_after(limit):
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                return


async def send_truncated(
    send: Send,
    connections: Connections,
    scope: Scope,
    *,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    keep: int | None,
) -> None:
    """Announce ``len(body)`` bytes, send only ``keep`` (default: half), then close."""
    cut = len(body) // 2 if keep is None else max(0, min(keep, max(len(body) - 1, 0)))
    clean = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    clean.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": clean})
    if cut:
        await send({"type": "http.response.body", "body": body[:cut], "more_body": True})
    await break_connection(connections, scope, reset=False)


# --- byte ranges ----------------------------------------------------------------------------
def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """``(start, end)`` inclusive for a satisfiable single range; None to send the whole file
    (no, malformed or multi-range header); False when unsatisfiable (416)."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip() or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    try:
        if not first:
            if not last:
                return None
            suffix = int(last)
            if suffix <= 0 or size == 0:
                return False
            return (max(size - suffix, 0), size - 1)
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0 or end < start or start >= size:
        return False
    return (start, min(end, size - 1))


def etag_of(path: Path) -> str:
    st = path.stat()
    raw = f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()
    return '"' + hashlib.md5(raw).hexdigest() + '"'


async def send_file(
    scope: Scope,
    send: Send,
    path: Path,
    *,
    content_type: str,
    connections: Connections,
    filename: str | None = None,
    truncate: int | None = None,
    truncate_half: bool = False,
    cors: bool = False,
) -> int:
    """Serve ``path`` with Range support (206 / 416 / 200); returns the status sent.

    ``cors`` lets any web page read it (a CDN file: a browser's ``<video>`` or ``fetch``).

    ``truncate`` / ``truncate_half`` send the announced headers but only part of the body and
    then close the connection (a fault).
    """
    headers_in = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    size = path.stat().st_size
    etag = etag_of(path)
    base: list[tuple[bytes, bytes]] = [
        (b"accept-ranges", b"bytes"),
        (b"etag", etag.encode()),
        (b"last-modified", formatdate(path.stat().st_mtime, usegmt=True).encode()),
        (b"cache-control", b"no-cache"),
    ]
    if cors:
        base += [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-expose-headers", b"accept-ranges, content-length, content-range"),
        ]
    if filename:
        base.append((b"content-disposition", f'inline; filename="{filename}"'.encode()))
    rng = parse_range(headers_in.get("range"), size)
    if_range = headers_in.get("if-range")
    if rng is not None and if_range and if_range.strip() != etag:
        rng = None
    if rng is False:
        await send(
            {
                "type": "http.response.start",
                "status": 416,
                "headers": [
                    *base,
                    (b"content-range", f"bytes */{size}".encode()),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return 416
    if isinstance(rng, tuple):
        start, end = rng
        status = 206
        base.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
    else:
        start, end, status = 0, size - 1, 200
    length = max(end - start + 1, 0)
    headers = [
        *base,
        (b"content-type", content_type.encode()),
        (b"content-length", str(length).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if scope.get("method") == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return status
    limit = length
    broken = False
    if truncate is not None or truncate_half:
        limit = length // 2 if truncate is None else max(0, min(truncate, max(length - 1, 0)))
        broken = True
    sent = 0
    async with await anyio.open_file(path, "rb") as fh:
        await fh.seek(start)
        while sent < limit:
            chunk = await fh.read(min(FILE_CHUNK, limit - sent))
            if not chunk:
                break
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    if broken:
        await break_connection(connections, scope, reset=False)
        return status
    await send({"type": "http.response.body", "body": b""})
    return status
