"""The client's transport: httpx's, reading the network in larger pieces over several connection
pools, and httpx's own transport when the environment names a proxy."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import httpx
import pytest

from nemo_mcp.api import wire

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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", ports
    finally:
        server.shutdown()
        server.server_close()


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
