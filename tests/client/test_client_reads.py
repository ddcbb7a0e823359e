"""The client's transport: httpx's, reading the network in larger pieces over several connection
pools, and httpx's own transport when the environment names a proxy; API calls sent straight
to it."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from nemo_mcp import __version__
from nemo_mcp.api import wire
from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.contract import paths

pytestmark = pytest.mark.anyio


@pytest.fixture
def sender() -> tuple[int, threading.Event]:
    """A loopback server that sends 2 MB at once to whoever connects, then waits."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"x" * (2 * 1024 * 1024))
            done.wait(10)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return port, done


async def test_a_read_takes_more_than_httpcores_64_kb(sender: tuple[int, threading.Event]) -> None:
    port, done = sender
    stream = await wire._Backend().connect_tcp("127.0.0.1", port, timeout=10)
    try:
        sizes = []
        received = 0
        while received < 2 * 1024 * 1024:
            data = await stream.read(64 * 1024, timeout=10)
            sizes.append(len(data))
            received += len(data)
        assert max(sizes) > 64 * 1024, sizes
        assert max(sizes) <= wire.READ_SIZE
        assert stream.get_extra_info("is_readable") is False  # all read, nothing pending
        assert stream.get_extra_info("server_addr")[1] == port
    finally:
        done.set()
        await stream.aclose()


async def test_a_read_takes_more_than_asyncios_256_kb(
    sender: tuple[int, threading.Event],
) -> None:
    """asyncio's socket transport hands over at most 256 KB per receive; under this transport
    it hands over what the socket holds, up to READ_SIZE (``_receive_more_at_once``)."""
    port, done = sender
    big_buffer = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)]
    stream = await wire._Backend().connect_tcp(
        "127.0.0.1", port, timeout=10, socket_options=big_buffer
    )
    try:
        for _ in range(100):  # the 2 MB arrive in the socket's buffer before the first read
            if stream.get_extra_info("is_readable"):
                break
            await anyio.sleep(0.02)
        await anyio.sleep(0.2)
        sizes = []
        while sum(sizes) < 2 * 1024 * 1024:
            sizes.append(len(await stream.read(64 * 1024, timeout=10)))
        assert max(sizes) > 256 * 1024, sizes
    finally:
        done.set()
        await stream.aclose()


async def test_a_closed_connection_reads_as_readable(sender: tuple[int, threading.Event]) -> None:
    """What the pool asks of an idle connection: readable means the server closed it."""
    port, done = sender
    stream = await wire._Backend().connect_tcp("127.0.0.1", port, timeout=10)
    try:
        received = 0
        while received < 2 * 1024 * 1024:
            received += len(await stream.read(64 * 1024, timeout=10))
        done.set()  # the server closes its end
        for _ in range(100):
            if stream.get_extra_info("is_readable"):
                break
            await anyio.sleep(0.02)
        assert stream.get_extra_info("is_readable") is True
        assert await stream.read(64 * 1024, timeout=10) == b""
    finally:
        await stream.aclose()


def test_a_proxy_in_the_environment_keeps_httpx_s_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = httpx.Limits(max_connections=4)
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(wire.default_transport(limits), wire.ShardedTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert wire.default_transport(limits) is None


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` on a loopback HTTP server in a thread; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server() -> Iterator[tuple[str, set[int]]]:
    """A keep-alive HTTP/1.1 server on loopback; yields its URL and the client ports seen."""
    ports: set[int] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            ports.add(self.client_address[1])
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as url:
        yield url, ports


def test_the_limits_are_shared_out_over_the_pools() -> None:
    assert wire._split(20, 4) == [5, 5, 5, 5]
    assert wire._split(6, 4) == [2, 2, 1, 1]
    assert wire._split(2, 4) == [1, 1, 1, 1]  # every pool can open one connection
    assert wire._split(None, 4) == [None] * 4


@pytest.fixture
async def sharded(
    http_server: tuple[str, set[int]],
) -> AsyncIterator[tuple[httpx.AsyncClient, wire.ShardedTransport, str, set[int]]]:
    """A client on the sharded transport (20 connections), the server's URL and ports seen."""
    url, ports = http_server
    transport = wire.ShardedTransport(httpx.Limits(max_connections=20))
    async with httpx.AsyncClient(transport=transport) as client:
        yield client, transport, url, ports


async def test_requests_one_after_another_reuse_one_connection(
    sharded: tuple[httpx.AsyncClient, wire.ShardedTransport, str, set[int]],
) -> None:
    client, transport, url, ports = sharded
    for _ in range(5):
        assert (await client.get(url)).json() == {"ok": True}
    assert len(ports) == 1
    assert [len(s.transport._pool.connections) for s in transport.shards] == [1, 0, 0, 0]
    assert [s.busy for s in transport.shards] == [0, 0, 0, 0]


async def test_requests_in_flight_spread_over_the_pools_until_their_answers_close(
    sharded: tuple[httpx.AsyncClient, wire.ShardedTransport, str, set[int]],
) -> None:
    client, transport, url, ports = sharded
    open_answers = [
        await client.send(client.build_request("GET", url), stream=True) for _ in range(8)
    ]
    assert [s.busy for s in transport.shards] == [2, 2, 2, 2]
    assert len(ports) == 8  # each answer still holds its connection
    for answer in open_answers:
        assert await answer.aread() == b'{"ok": true}'
        await answer.aclose()
    assert [s.busy for s in transport.shards] == [0, 0, 0, 0]
    await client.get(url)  # and the next request finds a kept-alive connection
    assert len(ports) == 8


@pytest.fixture
def api_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A loopback API: the credits answer gzip-encoded with a cookie set, and a file; yields
    its URL and every request seen (path, headers by their names as sent)."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append((self.path, dict(self.headers.items())))
            if self.path == paths.CREDITS:
                body = gzip.compress(b'{"code": 0, "data": {"available": 42, "frozen": 3}}')
                extra = [("Content-Encoding", "gzip"), ("Set-Cookie", "lb=node-7; Path=/")]
            else:
                body, extra = b"file bytes", [("Set-Cookie", "cdn=1; Path=/")]
            self.send_response(200)
            for name, value in (("Content-Length", str(len(body))), *extra):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as url:
        yield url, seen


async def test_api_calls_go_straight_to_the_transport_with_every_header_and_no_cookie(
    api_server: tuple[str, list[tuple[str, dict[str, str]]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A JSON API call skips ``AsyncClient.send`` (its auth, redirect, cookie and hook layers
    cost a quarter of a cheap call's CPU), and still sends what the client would have sent:
    the client's headers, the token, the attribution, gzip accepted and decoded. No cookie is
    kept from any host, on either path."""
    url, seen = api_server
    through_client: list[str] = []
    send = httpx.AsyncClient.send

    async def counted(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        through_client.append(request.url.path)
        return await send(self, request, **kw)

    monkeypatch.setattr(httpx.AsyncClient, "send", counted)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(api_url=url, token="tok-direct-123", home=tmp_path / "state")
    async with NemoClient(settings) as client:
        for _ in range(2):
            credits = await client.get_credits()
            assert (credits.available, credits.frozen) == (42, 3)
        for _ in range(2):  # a download goes through the client: no cookie kept there either
            got = await client.download(f"{url}/file.bin", tmp_path / "f.bin", overwrite=True)
            assert got.size == len(b"file bytes")
    assert through_client == ["/file.bin", "/file.bin"]
    api = [h for path, h in seen if path == paths.CREDITS]
    assert len(api) == 2
    for sent in api:  # the names as the client writes them
        assert sent["Authorization"] == "Bearer tok-direct-123"
        assert sent["User-Agent"] == f"nemo-mcp/{__version__}"
        assert sent["Host"] == url.removeprefix("http://")
        assert "gzip" in sent["Accept-Encoding"]
        assert {"X-Skill-Source", "X-Skill-Version", "X-Skill-Platform"} <= set(sent)
        assert len(sent) == len({name.lower() for name in sent})  # each once
    assert all("cookie" not in {name.lower() for name in h} for _, h in seen)


@pytest.mark.parametrize("address", ["http:///x", "https:/api.example.com", "ftp://host/x"])
async def test_an_address_without_scheme_or_host_is_refused_before_sending(
    address: str,
) -> None:
    """As the client refuses it: ``UnsupportedProtocol``, which the retry rules never repeat
    (a wrong ``NEMO_API_URL`` said at once, not after retries as a network failure)."""
    transport = wire.ShardedTransport(httpx.Limits(max_connections=4))
    async with httpx.AsyncClient(transport=transport) as client:
        direct = wire.DirectSender(client, transport)
        with pytest.raises(httpx.UnsupportedProtocol) as raised:
            await direct.send("GET", address + paths.CREDITS, {}, None, None)
        assert raised.value.request.url.path.endswith(paths.CREDITS)
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get(address + paths.CREDITS)  # the client's own answer


async def test_a_failure_carries_its_request_as_from_the_client() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    transport = wire.ShardedTransport(httpx.Limits(max_connections=4))
    async with httpx.AsyncClient(transport=transport) as client:
        direct = wire.DirectSender(client, transport)
        with pytest.raises(httpx.ConnectError) as raised:
            await direct.send("GET", f"http://127.0.0.1:{port}/x", {}, None, None)
        assert raised.value.request.url.port == port


async def test_a_closed_client_sends_nothing(
    api_server: tuple[str, list[tuple[str, dict[str, str]]]], tmp_path: Path
) -> None:
    url, seen = api_server
    client = NemoClient(Settings(api_url=url, token="tok-x", home=tmp_path / "state"))
    async with client:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_credits()
    assert seen == []
