"""Render submit/poll/cancel: every poll shape, and the never-resubmit rule."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from nemo_client_helpers import assert_clean

from nemo_mcp.api.client import NemoClient
from nemo_mcp.api.records import RenderPoll, parse_render_poll
from nemo_mcp.contract import renders
from nemo_mcp.errors import (
    AmbiguousSubmitError,
    OutcomeUnknownError,
    RenderNotFoundError,
    ServerError,
    SessionNotFoundError,
)

pytestmark = pytest.mark.anyio

SUBMIT = "/api/render/proxy/lambda"
DRAFT = {"t": [{"tt": 0, "sg": [{"d": 10000}]}], "m": {"title": "x"}}


async def test_submit_sends_the_documented_body(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.post(SUBMIT).respond(
        json={"success": True, "data": {"id": "render_1", "status": "pending", "progress": 5}}
    )
    status = await client.submit_render("render_1", "s1", DRAFT)
    assert json.loads(route.calls[0].request.content) == {
        "id": "render_1",
        "sessionId": "s1",
        "draft": DRAFT,
        "output": {"format": "mp4", "quality": "high"},
    }
    assert status == RenderPoll(
        render_id="render_1", status="pending", progress=5.0, raw_status="pending"
    )


async def test_submit_with_empty_answer_is_pending(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post(SUBMIT).respond(json={"success": True})
    status = await client.submit_render("r2", "s1", DRAFT, output={"format": "mp4"})
    assert status.render_id == "r2" and status.status == "pending"
    assert json.loads(route.calls[0].request.content)["output"] == {"format": "mp4"}


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("closed"), httpx.WriteError("broke")],
)
async def test_submit_with_lost_answer_is_ambiguous_and_not_retried(
    client: NemoClient, api: respx.MockRouter, failure: Exception
) -> None:
    route = api.post(SUBMIT).mock(side_effect=failure)
    with pytest.raises(AmbiguousSubmitError) as info:
        await client.submit_render("render_amb", "s1", DRAFT)
    assert route.call_count == 1
    assert info.value.render_id == "render_amb"
    assert isinstance(info.value, OutcomeUnknownError)
    assert not info.value.retryable
    assert info.value.__cause__ is not None
    assert_clean(info.value)


async def test_submit_gateway_timeout_is_ambiguous(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post(SUBMIT).respond(504)
    with pytest.raises(AmbiguousSubmitError):
        await client.submit_render("r", "s1", DRAFT)
    assert route.call_count == 1


async def test_submit_server_error_is_not_retried(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post(SUBMIT).respond(500, json={"success": False, "error": "boom"})
    with pytest.raises(ServerError):
        await client.submit_render("r", "s1", DRAFT)
    assert route.call_count == 1


async def test_submit_before_sending_is_retried(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.post(SUBMIT).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={"id": "r"})]
    )
    assert (await client.submit_render("r", "s1", DRAFT)).render_id == "r"
    assert route.call_count == 2


async def test_submit_for_unknown_session(client: NemoClient, api: respx.MockRouter) -> None:
    api.post(SUBMIT).respond(200, json={"code": 1002, "message": "session not found"})
    with pytest.raises(SessionNotFoundError):
        await client.submit_render("r", "gone", DRAFT)


POLL_SHAPES: list[tuple[str, dict[str, Any]]] = [
    (
        "bare-taskId",
        {
            "taskId": "render_x",
            "status": "completed",
            "progress": 100,
            "output": {"url": "https://cdn.example.com/o.mp4", "duration": 30.5, "size": 15728640},
        },
    ),
    (
        "success-envelope",
        {
            "success": True,
            "data": {
                "id": "render_x",
                "status": "completed",
                "progress": 100,
                "outputUrl": "https://cdn.example.com/o.mp4",
                "createdAt": 1773423613616,
            },
        },
    ),
    (
        "code-envelope",
        {
            "code": 0,
            "data": {
                "id": "render_x",
                "status": "completed",
                "output": {"url": "https://cdn.example.com/o.mp4"},
            },
        },
    ),
    (
        "cli-render_id",
        {
            "render_id": "render_x",
            "status": "completed",
            "output": {"url": "https://cdn.example.com/o.mp4", "duration": 30.5, "size": 15728640},
        },
    ),
    (
        "top-level-status-output-url",
        {"status": "completed", "output": {"url": "https://cdn.example.com/o.mp4"}},
    ),
]


@pytest.mark.parametrize("body", [b for _, b in POLL_SHAPES], ids=[n for n, _ in POLL_SHAPES])
async def test_every_poll_shape_normalises(
    client: NemoClient, api: respx.MockRouter, body: dict[str, Any]
) -> None:
    api.get(f"{SUBMIT}/render_x").respond(json=body)
    status = await client.get_render("render_x")
    assert status.render_id == "render_x"
    assert status.status == "completed"
    assert status.url == "https://cdn.example.com/o.mp4"
    assert status.progress == 100.0
    assert status.status in renders.TERMINAL


def test_poll_details_and_status_words() -> None:
    st = parse_render_poll(
        {"taskId": "r", "status": "completed", "output": {"url": "u", "duration": 30.5, "size": 9}},
        "fallback",
    )
    assert (st.duration, st.size) == (30.5, 9)
    words = {
        "queued": "pending",
        "PENDING": "pending",
        "running": "processing",
        "in-progress": "processing",
        "succeeded": "completed",
        "error": "failed",
        "canceled": "cancelled",
        "something-new": "processing",
    }
    for word, expected in words.items():
        assert parse_render_poll({"status": word}, "r").status == expected
    failed = parse_render_poll({"status": "failed", "error": {"message": "bad draft"}}, "r")
    assert failed.error == "bad draft" and failed.render_id == "r"
    assert parse_render_poll({"status": "processing", "progress": 250}, "r").progress == 100.0


async def test_poll_is_retried_on_5xx(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.get(f"{SUBMIT}/r").mock(
        side_effect=[httpx.Response(502), httpx.Response(200, json={"status": "processing"})]
    )
    assert (await client.get_render("r")).status == "processing"
    assert route.call_count == 2


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"detail": "Not Found"}),
        httpx.Response(200, json={"success": False, "error": "Render not found"}),
        httpx.Response(400, json={"code": 3, "message": "render does not exist"}),
    ],
)
async def test_unknown_render_is_distinguishable(
    client: NemoClient, api: respx.MockRouter, answer: httpx.Response
) -> None:
    api.get(f"{SUBMIT}/nope").mock(return_value=answer)
    with pytest.raises(RenderNotFoundError) as info:
        await client.get_render("nope")
    assert info.value.kind == "render_not_found"


async def test_cancel_render(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.post(f"{SUBMIT}/r/cancel").respond(
        json={"success": True, "data": {"id": "r", "status": "cancelled"}}
    )
    st = await client.cancel_render("r")
    assert st is not None and st.status == "cancelled"
    assert route.calls[0].request.content == b""
    api.post(f"{SUBMIT}/q/cancel").respond(json={"success": True})
    assert await client.cancel_render("q") is None
    api.post(f"{SUBMIT}/z/cancel").respond(404)
    with pytest.raises(RenderNotFoundError):
        await client.cancel_render("z")
