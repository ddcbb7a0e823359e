"""Streamed multipart uploads: several files per request, progress, retries, constant memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import httpx
import pytest
import respx
from nemo_client_helpers import SENTINEL, Sleeps, token_body

from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.errors import InvalidInputError, SessionNotFoundError
from nemo_mcp.store.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

UPLOAD = "/api/upload-video/nemo_agent/me/s1"
UPLOAD_OK = {
    "code": 0,
    "data": {
        "files": [
            {"filename": "a.mp4", "file_type": "video", "cdn_url": "https://c/a.mp4"},
            {"filename": "b.png", "file_type": "image", "cdn_url": "https://c/b.png"},
        ],
        "session_state_applied": True,
    },
}


def _media(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.mp4"
    a.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"A" * 300_000)
    b = tmp_path / "b.png"
    b.write_bytes(b"\x89PNG\r\n\x1a\n" + b"B" * 1000)
    return a, b


async def test_several_files_in_one_multipart_request(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    a, b = _media(tmp_path)
    route = api.post(UPLOAD).respond(json=UPLOAD_OK)
    progress: list[tuple[int, int]] = []

    async def on_progress(sent: int, total: int) -> None:
        progress.append((sent, total))

    result = await client.upload_files("s1", [a, b], on_progress=on_progress)
    assert [f.filename for f in result.files] == ["a.mp4", "b.png"]
    assert result.session_state_applied is True
    assert route.call_count == 1
    request = route.calls[0].request
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = request.content
    assert body.count(b'name="files"') == 2
    assert b'filename="a.mp4"' in body and b"Content-Type: video/mp4" in body
    assert b'filename="b.png"' in body and b"Content-Type: image/png" in body
    assert a.read_bytes() in body and b.read_bytes() in body
    total = int(request.headers["content-length"])
    assert progress[0] == (0, total)
    assert progress[-1] == (total, total)
    assert [s for s, _ in progress] == sorted(s for s, _ in progress)


async def test_sync_progress_callbacks_work_too(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    a, _ = _media(tmp_path)
    api.post(UPLOAD).respond(json=UPLOAD_OK)
    seen: list[int] = []
    await client.upload_files("s1", [a], on_progress=lambda sent, total: seen.append(sent))
    assert seen[-1] > a.stat().st_size


async def test_retry_before_sending_resends_the_whole_file(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    a, b = _media(tmp_path)
    route = api.post(UPLOAD).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=UPLOAD_OK)]
    )
    await client.upload_files("s1", [a, b])
    assert route.call_count == 2
    for call in route.calls:
        assert a.read_bytes() in call.request.content
        assert b.read_bytes() in call.request.content


async def test_upload_to_a_gone_session(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    a, _ = _media(tmp_path)
    api.post(UPLOAD).respond(404)
    with pytest.raises(SessionNotFoundError):
        await client.upload_files("s1", [a])


async def test_missing_file_is_rejected_before_sending(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    route = api.post(UPLOAD).respond(json=UPLOAD_OK)
    with pytest.raises(InvalidInputError, match=r"nothere\.mp4"):
        await client.upload_files("s1", [tmp_path / "nothere.mp4"])
    with pytest.raises(InvalidInputError):
        await client.upload_files("s1", [])
    assert route.call_count == 0


class DrainingTransport(httpx.AsyncBaseTransport):
    """Answers the token request and drains upload bodies chunk by chunk, keeping nothing."""

    def __init__(self) -> None:
        self.drained = 0
        self.chunks = 0
        self.content_length: int | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/anonymous-token":
            return httpx.Response(200, json=token_body())
        assert request.headers["authorization"] == f"Bearer {SENTINEL}"
        self.content_length = int(request.headers["content-length"])
        assert isinstance(request.stream, httpx.AsyncByteStream)
        async for chunk in request.stream:
            self.drained += len(chunk)
            self.chunks += 1
        return httpx.Response(200, json={"code": 0, "data": {"files": [{"filename": "big.mp4"}]}})


@pytest.mark.slow
async def test_large_upload_streams_with_constant_memory(
    settings: Settings, store: SQLiteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = 256 * 1024 * 1024
    big = tmp_path / "big.mp4"
    with open(big, "wb") as f:
        f.truncate(size)  # sparse: no disk space needed
    transport = DrainingTransport()
    progress_calls = 0

    def on_progress(sent: int, total: int) -> None:
        nonlocal progress_calls
        progress_calls += 1

    async with NemoClient(settings, store=store, transport=transport, sleep=Sleeps()) as c:
        tracemalloc.start()
        try:
            result = await c.upload_files("s1", [big], on_progress=on_progress)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.files[0].filename == "big.mp4"
    assert transport.drained == transport.content_length
    assert transport.drained > size
    assert transport.chunks > 100  # streamed in pieces, not one blob
    assert progress_calls <= size // (1024 * 1024) + 3
    with capsys.disabled():
        print(f"\n[upload memory] 256 MiB upload, peak traced memory {peak / 2**20:.2f} MiB")
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
