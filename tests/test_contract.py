"""The wire contract is said once: whatever the emulator builds from ``nemo_mcp.contract``, the
client reads back with the same module's field names (every documented variant, both ways)."""

from __future__ import annotations

from typing import Any

import pytest

from nemo_mcp.api.records import (
    parse_credits,
    parse_render_poll,
    parse_session_info,
    parse_upload_receipt,
)
from nemo_mcp.contract import account, draft, envelopes, paths, renders, stream, uploads
from nemo_mcp.emulator import draft as emulator_draft
from nemo_mcp.emulator.app import create_app
from nemo_mcp.emulator.config import StreamSpec
from nemo_mcp.emulator.sse import Framer
from nemo_mcp.stream.events import parse_frame
from nemo_mcp.stream.sse import SSEDecoder
from nemo_mcp.timeline.model import Timeline

URL = "http://cdn.test/renders/render_1.mp4"


@pytest.mark.parametrize("shape", renders.POLL_SHAPES)
@pytest.mark.parametrize(
    ("status", "url", "error"),
    [
        ("pending", None, None),
        ("processing", None, None),
        ("completed", URL, None),
        ("failed", None, "the render node crashed"),
        ("cancelled", None, None),
    ],
)
def test_every_poll_shape_reads_back(
    shape: renders.PollShape, status: str, url: str | None, error: str | None
) -> None:
    answer = renders.poll_answer(
        shape,
        render_id="render_1",
        status=status,
        progress=100 if url else 40,
        url=url,
        duration=3.0 if url else None,
        size=1234 if url else None,
        error=error,
        created_at=1_700_000_000.0,
        finished_at=1_700_000_010.0 if url else None,
    )
    unwrapped = envelopes.unwrap(answer)
    assert unwrapped.ok
    poll = parse_render_poll(unwrapped.payload, "fallback")
    assert (poll.render_id, poll.status, poll.url, poll.error) == ("render_1", status, url, error)
    assert poll.progress == (100.0 if url else 40.0)
    if url and shape != "success":  # the success shape carries the URL only
        assert (poll.duration, poll.size) == (3.0, 1234)


def test_submit_and_cancel_answers_read_back() -> None:
    body = renders.submit_request("render_1", "s1", "<draft/>")
    assert body == {
        "id": "render_1",
        "sessionId": "s1",
        "draft": "<draft/>",
        "output": body["output"],
    }
    assert body["output"] == renders.DEFAULT_OUTPUT
    for answer, status in (
        (renders.status_answer("render_1", "pending", progress=5), "pending"),
        (renders.status_answer("render_1", "cancelled"), "cancelled"),
    ):
        poll = parse_render_poll(envelopes.unwrap(answer).payload, "x")
        assert (poll.render_id, poll.status) == ("render_1", status)


@pytest.mark.parametrize("shape", ["code", "success"])
def test_error_envelopes_unwrap_to_their_code_and_message(shape: envelopes.Shape) -> None:
    env = envelopes.unwrap(envelopes.error(1002, "Session not found", shape=shape))
    assert (env.ok, env.code, env.message) == (False, 1002, "Session not found")
    assert envelopes.unwrap(envelopes.ok({"a": 1})).payload == {"a": 1}
    assert envelopes.unwrap(envelopes.success([1])).payload == [1]


def test_account_answers_read_back() -> None:
    info = parse_session_info(account.session_answer("t1", "5529798706024415232", "anon_x"))
    assert (info.task_id, info.session_id, info.user_id) == ("t1", "5529798706024415232", "anon_x")
    credits = parse_credits(account.credits_answer(70, 30))
    assert (credits.available, credits.frozen, credits.total) == (70, 30, 100)
    link = account.claim_link("https://web.test/", "a b")
    assert link == "https://web.test/workspace/claim?ct=a%20b"
    assert account.registration_link("https://web.test", "anon_1") is not None
    assert account.registration_link("https://web.test", "usr_1") is None


def test_upload_answer_reads_back() -> None:
    entry = uploads.file_entry(
        media_id="m_1",
        filename="song.mp3",
        file_type="audio",
        cdn_url="http://cdn.test/song.mp3",
        size=10,
        digest="abc",
        probed={"duration": 4.5, "bitrate": 1},
    )
    result = parse_upload_receipt(uploads.answer([entry]))
    (got,) = result.files
    assert (got.filename, got.file_type, got.cdn_url, got.duration) == (
        "song.mp3",
        "audio",
        "http://cdn.test/song.mp3",
        4.5,
    )
    assert result.session_state_applied is True
    assert uploads.url_request(["http://a/b.mp4"]) == {
        "urls": ["http://a/b.mp4"],
        "source_type": "url",
    }


def test_run_request_reads_back() -> None:
    body = stream.run_request("s1", "make a video")
    assert stream.read_field(body, stream.SESSION_ID_FIELD) == "s1"
    assert stream.read_field(body, stream.APP_NAME_FIELD) == paths.APP_NAME
    assert stream.message_text(stream.read_field(body, stream.NEW_MESSAGE_FIELD)) == "make a video"


def _events(frames: list[bytes]) -> list[Any]:
    decoder = SSEDecoder()
    out = []
    for chunk in frames:
        for frame in decoder.feed(chunk):
            out.extend(parse_frame(frame))
    for frame in decoder.close():
        out.extend(parse_frame(frame))
    return out


@pytest.mark.parametrize("dialect", ["adk", "adk_snake", "typed"])
def test_every_stream_dialect_reads_back(dialect: str) -> None:
    framer = Framer(StreamSpec(dialect=dialect))  # type: ignore[arg-type]
    frames = [
        framer.heartbeat(),
        framer.function_call("c1", "generate_video", {"prompt": "x"}, long_running=True),
        framer.function_response("c1", "generate_video", {"status": "ok"}, {"draft": {"t": []}}),
        framer.final_text("Done.", streamed=False),
        framer.model_error("MALFORMED", "bad call"),
    ]
    kinds = [e.kind for e in _events(frames)]
    assert kinds[:3] == ["heartbeat", "tool_call", "tool_result"]
    assert "text" in kinds
    assert kinds[-1] in ("model_error", "error")
    if dialect != "typed":
        call = _events([frames[1]])[0]
        assert call.long_running and call.tool == "generate_video"
        assert "state_delta" in kinds
    for form in stream.HEARTBEATS.values():
        assert [e.kind for e in _events([form])] == ["heartbeat"]
    fatal = _events([Framer.fatal_error_v2("ResourceExhausted", "429 overloaded")])
    assert (fatal[0].kind, fatal[0].code) == ("error", "ResourceExhausted")
    assert _events([Framer.fatal_error_v1('tool "x" failed')])[0].kind == "error"


@pytest.mark.parametrize(
    "value",
    [
        None,
        {},
        {"t": []},
        {"t": [{"tt": 0, "sg": []}]},
        {"t": [{"tt": 0, "sg": [{"s": 0, "d": 1000}]}]},
        {"t": [{"tt": 1, "sg": []}, {"tt": 7, "sg": [{"text": "Hi", "d": 500}]}]},
        {"t": "not a list"},
    ],
)
def test_both_sides_apply_one_readiness_rule(value: Any) -> None:
    product = Timeline.from_state({"state": {"draft": value}}).is_export_ready
    assert product == emulator_draft.is_ready(value)
    assert product == draft.export_ready(draft.json_tracks_have_segments(value))


def test_the_emulator_routes_the_contract_paths() -> None:
    routed = {getattr(r, "path", None) for r in create_app().routes}
    for template in (
        paths.ANON_TOKEN,
        paths.CLAIM_TOKEN,
        paths.CREATE_SESSION,
        paths.CREDITS,
        paths.RUN_SSE,
        paths.UPLOAD,
        paths.STATE,
        paths.RENDER,
        paths.RENDER_STATUS,
        paths.RENDER_CANCEL,
        paths.RENDER_DOWNLOAD,
    ):
        assert template in routed, template
    assert paths.fill(paths.RENDER_STATUS, render_id="../x") == paths.RENDER + "/..%2Fx"
