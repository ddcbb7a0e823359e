"""The HTTP transport under the client: httpx's own, reading the network in larger pieces.

httpcore reads a response 64 KB at a time, and every read passes through h11 and the event
loop: for a 500 MB download that is ~7,600 trips, a good part of the time it takes. This transport
is httpx's ``AsyncHTTPTransport`` with the same connection pool settings, over a network backend
whose reads take up to :data:`READ_SIZE` at once (a read returns what the socket holds, up to
that). Behind a proxy from the environment the client keeps httpx's default transport, so the
proxy settings apply exactly as httpx applies them.

The connections are split over :data:`SHARDS` pools, each request going to the pool with the
fewest requests in flight. httpcore's pool walks every queued request and every connection on
each request and each response it sees, under one lock: with 16 requests in flight on one pool,
a request cost its client about twice the CPU it costs on four pools of a quarter of the
connections (the HTTP benchmark's notes give the measurement). Sequential requests all go to
the first pool and reuse its connection, as with one pool.

API calls skip the client's own layers (:class:`DirectSender`), and the client keeps no cookies
(:func:`no_cookies`).
"""

from __future__ import annotations

import functools
import http.cookiejar
import select
import socket
import ssl
import typing
import urllib.request

import httpcore
import httpx

READ_SIZE = 1024 * 1024
SHARDS = 4


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")
        _receive_more_at_once(inner)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max(max_bytes, READ_SIZE), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        # The pool asks whether each idle connection is readable (closed by the server) every
        # time it assigns a request; anyio's answer rebuilds a table of attributes each time.
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _receive_more_at_once(stream: httpcore.AsyncNetworkStream) -> None:
    """Let asyncio's socket transport under ``stream`` take up to :data:`READ_SIZE` per
    receive instead of its 256 KB. Each receive wakes a reader through anyio, which resumes and
    pauses the transport's reading every time: a 500 MB download made ~2,000 of those. With
    this, its user CPU went from 0.37 s to 0.24 s and its time from 779 to 679 ms (medians of
    10 interleaved runs; the benchmark's notes). The transport is reached through
    two private attributes (httpcore's anyio stream, anyio's transport; under TLS, anyio's
    ``transport_stream``); where they are not found (another event loop, such as uvloop, whose
    transports size their own reads; or a renamed attribute, which a test catches), nothing
    changes."""
    inner: typing.Any = getattr(stream, "_stream", None)
    inner = getattr(inner, "transport_stream", inner)
    transport = getattr(inner, "_transport", None)
    size = getattr(transport, "max_size", None)
    if isinstance(size, int) and size < READ_SIZE:
        transport.max_size = READ_SIZE  # type: ignore[union-attr]


def _readable(sock: socket.socket) -> bool:
    """Whether ``recv`` would return at once (data, or the b"" of a closed connection)."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class LargeReadTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (certificates from the environment as httpx finds them)
    whose connection pool reads up to :data:`READ_SIZE` at a time."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        # Not super().__init__(): it would build a pool (loading the certificates, tens of
        # milliseconds) only for this one to replace it; the pool is all the parent keeps.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=True),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )


def _split(total: int | None, parts: int) -> list[int | None]:
    """``total`` shared out over ``parts`` (at least one each); None stays unlimited."""
    if total is None:
        return [None] * parts
    return [max(1, total // parts + (1 if i < total % parts else 0)) for i in range(parts)]


class _Shard:
    def __init__(self, transport: LargeReadTransport) -> None:
        self.transport = transport
        self.busy = 0  # requests sent whose responses are not closed yet


class _Released(httpx.AsyncByteStream):
    """A response body that tells its shard when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, shard: _Shard) -> None:
        self._inner = inner
        self._shard: _Shard | None = shard

    def __aiter__(self) -> typing.AsyncIterator[bytes]:
        return self._inner.__aiter__()  # the inner stream's own iterator: no layer between

    async def aclose(self) -> None:
        shard, self._shard = self._shard, None
        if shard is not None:
            shard.busy -= 1
        await self._inner.aclose()


class ShardedTransport(httpx.AsyncBaseTransport):
    """:data:`SHARDS` :class:`LargeReadTransport` pools sharing ``limits``; each request goes
    to the pool with the fewest requests in flight (the first, on a tie)."""

    def __init__(self, limits: httpx.Limits, shards: int = SHARDS) -> None:
        connections = _split(limits.max_connections, shards)
        kept = _split(limits.max_keepalive_connections, shards)
        certificates = httpx.create_ssl_context(trust_env=True)  # loaded once, shared
        self.shards = [
            _Shard(
                LargeReadTransport(
                    httpx.Limits(
                        max_connections=connections[i],
                        max_keepalive_connections=kept[i],
                        keepalive_expiry=limits.keepalive_expiry,
                    ),
                    certificates,
                )
            )
            for i in range(shards)
        ]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        shard = min(self.shards, key=lambda s: s.busy)
        shard.busy += 1
        try:
            response = await shard.transport.handle_async_request(request)
        except BaseException:
            shard.busy -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Released(response.stream, shard)
        return response

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.transport.aclose()


def default_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The transport for a client given none: ours, or None (httpx's) when the environment
    names a proxy."""
    proxies = urllib.request.getproxies()  # what httpx reads too
    if any(key in proxies for key in ("http", "https", "all")):
        return None
    return ShardedTransport(limits)


# Parsed addresses, kept: an httpx.URL is immutable, and parsing one is a tenth of what building
# a request costs. A client calls a handful of paths (a few per session).
_url = functools.lru_cache(maxsize=256)(httpx.URL)


class DirectSender:
    """Plain requests of ``client`` handed straight to ``transport``, the one nemo-mcp built for
    it, answered open for streaming as ``client.send(..., stream=True)`` answers. The client's
    layers in between do nothing for an API call: no auth flow (the token is a header), no
    redirect followed, no cookies (:func:`no_cookies`), no event hooks; passing through them
    cost ~0.25 ms of CPU per call, a fifth of the request (the benchmark notes)."""

    def __init__(self, client: httpx.AsyncClient, transport: httpx.AsyncBaseTransport) -> None:
        self._client = client
        self._transport = transport
        self._headers = list(client.headers.raw)  # as the client sends them, names' case kept

    async def send(
        self,
        method: str,
        url: str,
        headers: typing.Mapping[str, str],
        json: typing.Any,
        timeout: httpx.Timeout | None,
    ) -> httpx.Response:
        if self._client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        limits = timeout if timeout is not None else self._client.timeout
        given = [(name.encode(), value.encode()) for name, value in headers.items()]
        mine = {name.lower() for name, _ in given}
        request = httpx.Request(
            method,
            _url(url),
            headers=[*(h for h in self._headers if h[0].lower() not in mine), *given],
            json=json,
            extensions={"timeout": limits.as_dict()},
        )
        if request.url.scheme not in ("http", "https") or not request.url.host:
            # what the client raises for such an address: sent nowhere, never retried
            raise httpx.UnsupportedProtocol(
                "Request URL is missing an 'http://' or 'https://' protocol.", request=request
            )
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as the client's send leaves it
            raise
        response.request = request
        return response


def no_cookies() -> http.cookiejar.CookieJar:
    """A cookie jar that keeps none: the API authenticates by token, its calls skip the jar
    (:class:`DirectSender`), and a download host has no business following the user around."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
