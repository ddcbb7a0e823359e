"""POST /run_sse: sent once, raw chunks out, the single re-auth retry, clear failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from nemo_client_helpers import SENTINEL, SENTINEL2, assert_clean

from nemo_mcp.api.client import NemoClient
from nemo_mcp.errors import (
    APITimeoutError,
    AuthError,
    OutcomeUnknownError,
    ServerError,
    SessionNotFoundError,
    StreamError,
    StreamInterruptedError,
    StreamTimeoutError,
    TransportError,
)

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}
FRAMES = [b'data: {"content":{"parts":[{"text":"Hel', b'lo"}]}}\n\n', b": keepalive\n\n"]


async def _frames(drop: Exception | None = None) -> AsyncIterator[bytes]:
    for frame in FRAMES:
        yield frame
    if drop is not None:
        raise drop


async def _collect(client: NemoClient, sid: str = "s1", text: str = "make it pop") -> bytes:
    out = b""
    async with client.stream_chat(sid, text) as chunks:
        async for chunk in chunks:
            out += chunk
    return out


async def test_stream_chat_posts_once_and_yields_raw_chunks(
    client: NemoClient, api: respx.MockRouter, no_leaks: pytest.LogCaptureFixture
) -> None:
    route = api.post("/run_sse").mock(
        side_effect=lambda request: httpx.Response(200, headers=SSE, content=_frames())
    )
    assert await _collect(client) == b"".join(FRAMES)
    assert route.call_count == 1
    request = route.calls[0].request
    assert json.loads(request.content) == {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": "s1",
        "new_message": {"parts": [{"text": "make it pop"}]},
    }
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["authorization"] == f"Bearer {SENTINEL}"
    assert request.headers["x-skill-platform"] == "testplatform"


async def test_stream_chat_timeouts(client: NemoClient, api: respx.MockRouter) -> None:
    from nemo_mcp import constants

    route = api.post("/run_sse").mock(
        side_effect=lambda request: httpx.Response(200, headers=SSE, content=_frames())
    )
    await _collect(client)
    timeout = route.calls[0].request.extensions["timeout"]
    assert timeout["read"] == constants.TURN_SOCKET_READ_TIMEOUT
    assert timeout["connect"] == constants.CONNECT_TIMEOUT


async def test_unknown_session_is_404(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.post("/run_sse").respond(404, json={"detail": "Session not found: s1"})
    with pytest.raises(SessionNotFoundError):
        await _collect(client)
    assert route.call_count == 1


async def test_json_envelope_error_instead_of_stream(
    client: NemoClient, api: respx.MockRouter
) -> None:
    api.post("/run_sse").respond(200, json={"code": 1002, "message": "no such session"})
    with pytest.raises(SessionNotFoundError):
        await _collect(client)


async def test_wrong_content_type_is_a_stream_error(
    client: NemoClient, api: respx.MockRouter
) -> None:
    api.post("/run_sse").respond(200, text="<html/>", headers={"content-type": "text/html"})
    with pytest.raises(StreamError):
        await _collect(client)


@pytest.mark.parametrize(
    "rejection",
    [
        httpx.Response(401, json={"code": 1001}),
        httpx.Response(200, json={"code": 1001, "message": "expired"}),
    ],
)
async def test_rejected_token_is_the_only_retry(
    client: NemoClient,
    api: respx.MockRouter,
    rejection: httpx.Response,
    no_leaks: pytest.LogCaptureFixture,
) -> None:
    answers = iter([rejection, httpx.Response(200, headers=SSE, content=_frames())])
    route = api.post("/run_sse").mock(side_effect=lambda request: next(answers))
    assert await _collect(client) == b"".join(FRAMES)
    assert route.call_count == 2
    bearers = [c.request.headers["authorization"] for c in route.calls]
    assert bearers == [f"Bearer {SENTINEL}", f"Bearer {SENTINEL2}"]


async def test_rejected_twice_is_an_auth_error(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.post("/run_sse").respond(401, json={"code": 1001})
    with pytest.raises(AuthError) as info:
        await _collect(client)
    assert route.call_count == 2
    assert_clean(info.value)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_other_failures_are_never_retried(
    client: NemoClient, api: respx.MockRouter, status: int
) -> None:
    route = api.post("/run_sse").respond(status)
    with pytest.raises(Exception) as info:
        await _collect(client)
    assert route.call_count == 1
    if status >= 500:
        assert isinstance(info.value, ServerError)


async def test_connect_error_is_a_transport_error(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post("/run_sse").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        await _collect(client)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert route.call_count == 1


async def test_lost_answer_before_the_stream_is_outcome_unknown(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post("/run_sse").mock(side_effect=httpx.ReadTimeout("no headers"))
    with pytest.raises(OutcomeUnknownError) as info:
        await _collect(client)
    assert route.call_count == 1
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


async def test_drop_mid_stream_is_interrupted_and_not_resent(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post("/run_sse").mock(
        side_effect=lambda request: httpx.Response(
            200, headers=SSE, content=_frames(httpx.RemoteProtocolError("peer closed"))
        )
    )
    got: list[bytes] = []
    with pytest.raises(StreamInterruptedError) as info:
        async with client.stream_chat("s1", "hi") as chunks:
            async for chunk in chunks:
                got.append(chunk)
    assert got == FRAMES
    assert route.call_count == 1
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)
    assert not info.value.retryable


async def test_silence_mid_stream_is_a_stream_timeout(
    client: NemoClient, api: respx.MockRouter
) -> None:
    api.post("/run_sse").mock(
        side_effect=lambda request: httpx.Response(
            200, headers=SSE, content=_frames(httpx.ReadTimeout("silent"))
        )
    )
    with pytest.raises(StreamTimeoutError) as info:
        await _collect(client)
    assert isinstance(info.value, APITimeoutError)
    assert isinstance(info.value, StreamInterruptedError)


async def test_leaving_early_closes_the_stream(client: NemoClient, api: respx.MockRouter) -> None:
    closed: list[bool] = []

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            while True:
                yield b": heartbeat\n\n"

        async def aclose(self) -> None:
            closed.append(True)

    api.post("/run_sse").mock(
        side_effect=lambda request: httpx.Response(200, headers=SSE, stream=Endless())
    )
    async with client.stream_chat("s1", "hi") as chunks:
        async for _ in chunks:
            break
    assert closed == [True]
