"""A signed-link PUT is streamed on to NemoVideo, never held: a 200 MB body goes through a real
hosted worker with its memory flat; a body that turns out too big mid-stream, or whose sender
goes away, aborts the upload NemoVideo was receiving, nothing is kept and the link works again."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from workers import Cluster, Worker, cluster, user_client, user_token

from nemo_mcp.emulator import EmulatorServer
from support.emulator import requests_to
from support.results import ToolClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MIB = 1024 * 1024
LIMIT = 200 * MIB  # the music-generator skill's upload limit
BIG = 200_000_000  # "a 200 MB file", under that limit
RSS_BOUND = 64 * MIB


@pytest.fixture(scope="module")
def song(media: str) -> bytes:
    return httpx.get(f"{media}/song.mp3", timeout=10, trust_env=False).content


@pytest.fixture
def group(root: Path, emu: EmulatorServer) -> Cluster:
    with cluster(root, emu, NEMO_SKILL="music-generator-free-easy") as one:
        one.start("w1")
        yield one  # type: ignore[misc]


def _kib(pid: int, field: str) -> int:
    """A memory figure of a process from /proc, in bytes (VmRSS now, VmHWM its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


async def _generated(head: bytes, total: int, chunk: int = MIB) -> AsyncIterator[bytes]:
    """``total`` bytes made as they are sent: a real MP3's bytes, then zeros."""
    yield head
    sent, block = len(head), bytes(chunk)
    while sent < total:
        part = block[: min(chunk, total - sent)]
        sent += len(part)
        yield part


def _media_of(emu: EmulatorServer, sid: str) -> list[tuple[str, int]]:
    with emu.state.lock:
        return [(m.filename, m.size) for m in emu.state.media.values() if m.session_id == sid]


def _media_folders(emu: EmulatorServer) -> int:
    return len(list(emu.state.media_dir.iterdir()))


def _raw_put(port: int, url: str, length: int, first: bytes, *, answer: bool = True) -> bytes:
    """PUT that says ``length`` bytes, sends ``first`` only and (``answer``) reads the answer's
    first bytes, then hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        head = f"PUT {urlsplit(url).path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        raw.sendall(f"{head}Content-Length: {length}\r\n\r\n".encode() + first)
        return raw.recv(4096) if answer else b""


async def _nothing_kept(emu: EmulatorServer, sid: str, folders: int) -> None:
    """NemoVideo saw the broken body end and dropped what it had written (it learns of the
    break a moment after the worker answered)."""
    with anyio.fail_after(30):
        while _media_folders(emu) != folders:  # noqa: ASYNC110
            await anyio.sleep(0.1)
    assert _media_of(emu, sid) == []


async def _link(worker: Worker, token: str, filename: str) -> tuple[str, str]:
    async with user_client(worker.url, token) as client:
        mcp = ToolClient(client)
        await mcp.load_schemas()
        new = await mcp.ok("nemo_new_session", {"title": "big uploads"})
        link = await mcp.ok(
            "nemo_upload_link", {"filename": filename, "session_id": new.data["session_id"]}
        )
        assert link.data["max_bytes"] == LIMIT
        return str(link.data["upload_url"]), str(new.data["session_id"])


async def test_a_200_mb_body_is_streamed_through_with_flat_memory(
    group: Cluster, emu: EmulatorServer, song: bytes
) -> None:
    worker = group.workers[0]
    url, sid = await _link(worker, user_token(emu), "big.mp3")
    pid = worker.proc.pid
    before = _kib(pid, "VmRSS")
    async with httpx.AsyncClient(trust_env=False, timeout=120) as http:
        put = await http.put(
            url, content=_generated(song, BIG), headers={"Content-Length": str(BIG)}
        )
    assert put.status_code == 200, put.text
    growth = _kib(pid, "VmHWM") - before  # the worker's peak over its memory before the PUT
    print(f"worker RSS before {before / MIB:.1f} MiB, peak growth {growth / MIB:.1f} MiB")
    assert growth < RSS_BOUND, f"the worker grew {growth / MIB:.0f} MiB for a 200 MB body"
    assert _media_of(emu, sid) == [("big.mp3", BIG)]  # every byte arrived, once


async def test_too_big_mid_stream_aborts_and_the_link_works_again(
    group: Cluster, emu: EmulatorServer, song: bytes
) -> None:
    worker = group.workers[0]
    url, sid = await _link(worker, user_token(emu), "song.mp3")
    folders, sent_on = _media_folders(emu), requests_to(emu, "upload")
    async with httpx.AsyncClient(trust_env=False, timeout=120) as http:
        # no Content-Length: the size is known only once the limit is passed, mid-stream
        over = await http.put(url, content=_generated(song, LIMIT + 4 * MIB))
        assert over.status_code == 413 and "larger than the 200 MB limit" in over.text
        assert requests_to(emu, "upload") == sent_on + 1  # it was on its way: aborted there
        await _nothing_kept(emu, sid, folders)
        declared = _raw_put(worker.port, url, LIMIT + 1, song)  # the rest never sent
        assert declared.startswith(b"HTTP/1.1 413"), declared  # refused on its Content-Length
        put = await http.put(url, content=song)  # nothing was stored: the link still works
        assert put.status_code == 200, put.text
        again = await http.put(url, content=song)
        assert again.status_code == 400 and "used already" in again.text
    assert _media_of(emu, sid) == [("song.mp3", len(song))]


async def test_a_sender_that_goes_away_leaves_nothing(
    group: Cluster, emu: EmulatorServer, song: bytes
) -> None:
    worker = group.workers[0]
    url, sid = await _link(worker, user_token(emu), "song.mp3")
    folders = _media_folders(emu)
    _raw_put(worker.port, url, 50 * MIB, song + bytes(8 * MIB), answer=False)  # then gone
    with anyio.fail_after(30):
        while "the sender went away" not in worker.log.read_text():  # noqa: ASYNC110
            await anyio.sleep(0.1)
    await _nothing_kept(emu, sid, folders)
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
        put = await http.put(url, content=song)  # the link was not used up
    assert put.status_code == 200, put.text
    assert _media_of(emu, sid) == [("song.mp3", len(song))]
