"""A whole flow with a sentinel token: it must appear only in Authorization headers to the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx
from nemo_client_helpers import API, CDN, SENTINEL, SENTINEL2, assert_clean

from nemo_mcp.api.client import NemoClient
from nemo_mcp.errors import AmbiguousSubmitError, NemoError

pytestmark = pytest.mark.anyio


async def _sse() -> AsyncIterator[bytes]:
    yield b'data: {"content":{"parts":[{"text":"done"}]}}\n\n'


async def test_sentinel_token_never_leaks(
    client: NemoClient,
    api: respx.MockRouter,
    tmp_path: Path,
    no_leaks: pytest.LogCaptureFixture,
) -> None:
    api.post("/api/tasks/me/with-session/nemo_agent").respond(
        json={"code": 0, "data": {"task_id": "t", "session_id": "s"}}
    )
    api.post("/api/upload-video/nemo_agent/me/s").respond(json={"code": 0, "data": {"files": []}})
    api.get("/api/state/nemo_agent/me/s/latest").mock(
        side_effect=[
            httpx.Response(200, json={"code": 1001, "message": f"bad token {SENTINEL}"}),
            httpx.Response(200, json={"code": 0, "data": {"state": {}}}),
        ]
    )
    api.post("/run_sse").mock(
        side_effect=lambda r: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=_sse()
        )
    )
    api.post("/api/render/proxy/lambda").mock(side_effect=httpx.ReadTimeout("lost"))
    api.get("/api/render/proxy/lambda/r").respond(
        json={"status": "completed", "output": {"url": f"{CDN}/o.mp4?sig=x"}}
    )
    api.get("/api/render/proxy/r/download").respond(302, headers={"location": f"{CDN}/o.mp4"})
    api.get(scheme="https", host="cdn.nemo.test", path="/o.mp4").respond(content=b"video")
    api.get("/api/credits/balance/simple").respond(500, text=f"oops Bearer {SENTINEL2}")

    media = tmp_path / "a.mp4"
    media.write_bytes(b"x" * 1000)
    errors: list[NemoError] = []

    info = await client.create_session()
    await client.upload_files(info.session_id, [media])
    await client.get_state("s")  # 1001 -> fresh token -> retried
    async with client.stream_chat("s", "hello") as chunks:
        async for _ in chunks:
            pass
    with pytest.raises(AmbiguousSubmitError) as ambiguous:
        await client.submit_render("r", "s", {"t": []})
    errors.append(ambiguous.value)
    await client.get_render("r")
    await client.download(f"{API}/api/render/proxy/r/download", tmp_path / "o.mp4")
    with pytest.raises(NemoError) as server:
        await client.get_credits()
    errors.append(server.value)

    for err in errors:
        assert_clean(err)
    for call in api.calls:
        request = call.request
        assert SENTINEL not in str(request.url) and SENTINEL2 not in str(request.url)
        auth = request.headers.get("authorization")
        if request.url.host == "cdn.nemo.test" or request.url.path.endswith("anonymous-token"):
            assert auth is None
        else:
            assert auth in (f"Bearer {SENTINEL}", f"Bearer {SENTINEL2}")
        for name, value in request.headers.items():
            if name != "authorization":
                assert SENTINEL not in value and SENTINEL2 not in value
