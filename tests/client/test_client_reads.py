"""The client's transport: httpx's, reading the network in larger pieces, and httpx's own
transport when the environment names a proxy."""

from __future__ import annotations

import socket
import threading

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
    assert isinstance(wire.default_transport(limits), wire.LargeReadTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert wire.default_transport(limits) is None
