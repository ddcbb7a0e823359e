"""The chat agent behind /run_sse: every stream variant read as raw frames, silent turns,
heartbeats, broken streams, credits, and what each request does to the session state."""

from __future__ import annotations

import io
import json
from typing import Any

import anyio
import av
import httpx
import pytest
from emu_helpers import Api, Media, Stream, serve

from nemo_mcp.contract import codes
from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_TEXT
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.agent import silent_by_hash

MUSIC_VIDEO = "generate a music video clip synced to my song with matching visuals"
BGM = "generate a 4-second royalty-free background track"


async def _session_with_song(api: Api, media: Media) -> str:
    sid = await api.new_session()
    r = await api.upload(sid, media.song, *media.photos[:2])
    assert r.status_code == 200, r.text
    return sid


async def _session_with_draft(api: Api) -> str:
    sid = await api.new_session()
    s = await api.chat(sid, BGM)
    assert s.error is None and s.status == 200
    return sid


def _assert_framing(s: Stream) -> None:
    """ADK framing: only `data: <one line>` and comment lines, each followed by a blank line."""
    assert s.status == 200
    assert s.headers["content-type"].startswith("text/event-stream")
    assert s.error is None
    text = s.body.decode()
    assert text.endswith("\n\n")
    for block in text.split("\n\n")[:-1]:
        assert "\n" not in block, block  # one line per frame
        assert block.startswith(("data:", ":")), block
    assert "event:" not in text and "\nid:" not in text and "[DONE]" not in text


def _parts(ev: dict[str, Any]) -> list[dict[str, Any]]:
    return list((ev.get("content") or {}).get("parts", []))


@pytest.mark.anyio
async def test_adk_default_stream(api: Api, media: Media) -> None:
    sid = await _session_with_song(api, media)
    before = await api.credits()
    s = await api.chat(sid, MUSIC_VIDEO)
    _assert_framing(s)
    events = s.events
    # the user's message is not echoed as an event (it only shows up as a tool's prompt)
    assert not [p for ev in events for p in _parts(ev) if p.get("text") == MUSIC_VIDEO]
    assert all(ev["content"]["role"] != "user" for ev in events if "text" in _parts(ev)[0])
    for ev in events:
        assert ev["author"] == "nemo_agent"
        assert ev["invocationId"].startswith("e-")
        assert set(ev["actions"]) >= {"stateDelta", "artifactDelta", "requestedAuthConfigs"}
        assert isinstance(ev["timestamp"], float)
        assert "partial" not in ev
        assert "invocation_id" not in ev
    calls = [p["functionCall"] for ev in events for p in _parts(ev) if "functionCall" in p]
    responses = [
        (p["functionResponse"], ev) for ev in events for p in _parts(ev) if "functionResponse" in p
    ]
    assert [c["name"] for c in calls] == ["analyze_audio", "generate_music_video"]
    assert all(c["id"].startswith("adk-") for c in calls)
    long_running = [ev for ev in events if ev.get("longRunningToolIds")]
    assert long_running and long_running[0]["longRunningToolIds"] == [calls[1]["id"]]
    assert [r["id"] for r, _ in responses] == [c["id"] for c in calls]
    for _, ev in responses:
        assert ev["content"]["role"] == "user"
    delta = responses[-1][1]["actions"]["stateDelta"]
    final = events[-1]
    assert final["finishReason"] == "STOP"
    assert "Export" in final["content"]["parts"][0]["text"]
    assert "timeline" in final["content"]["parts"][0]["text"]
    # the stateDelta carries the new draft, and the state shows it
    state = await api.state(sid)
    assert state["draft"] == delta["draft"]
    draft = state["draft"]
    assert {t["tt"] for t in draft["t"]} == {0, 1}
    assert draft["d"] == 6000
    assert all(sg["d"] > 0 for t in draft["t"] for sg in t["sg"])
    assert state["video_analyses"]
    after = await api.credits()
    assert after["available"] == before["available"] - 100
    assert after["frozen"] == 0


@pytest.mark.anyio
async def test_adk_snake_case(api: Api, media: Media) -> None:
    sid = await _session_with_song(api, media)
    s = await api.chat(sid, MUSIC_VIDEO, headers={"X-Emulator-Stream": "adk_snake"})
    _assert_framing(s)
    raw = s.body.decode()
    for camel in ("invocationId", "functionCall", "functionResponse", "stateDelta", "finishReason"):
        assert camel not in raw
    ev = s.events
    assert all("invocation_id" in e and "state_delta" in e["actions"] for e in ev)
    assert any("function_call" in p for e in ev for p in _parts(e))
    assert any(e["actions"]["state_delta"].get("draft") for e in ev)
    assert any(e.get("long_running_tool_ids") for e in ev)
    assert ev[-1]["finish_reason"] == "STOP"
    assert len(ev[0]["id"]) == 8  # ADK 1.x style ids


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["request", "variant"])
async def test_partial_chunks_then_the_whole_text(api: Api, how: str) -> None:
    sid = await api.new_session()
    if how == "request":
        body = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": sid,
            "new_message": {"parts": [{"text": BGM}]},
            "streaming": True,
        }
        s = await api.chat(sid, BGM, body=body)
    else:
        s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": "partial"})
    _assert_framing(s)
    partials = [e for e in s.events if e.get("partial") is True]
    assert len(partials) >= 2
    final = [e for e in s.events if e.get("partial") is False]
    assert len(final) == 1
    whole = final[0]["content"]["parts"][0]["text"]
    assert "".join(p["content"]["parts"][0]["text"] for p in partials) == whole
    assert s.texts() == [whole]  # a reader that skips partials sees the text once


@pytest.mark.anyio
async def test_nopartial_overrides_the_request(api: Api) -> None:
    sid = await api.new_session()
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": sid,
        "newMessage": {"parts": [{"text": BGM}]},  # camelCase is accepted too
        "streaming": True,
    }
    s = await api.chat(sid, BGM, body=body, headers={"X-Emulator-Stream": "nopartial"})
    _assert_framing(s)
    assert not any("partial" in e for e in s.events)


@pytest.mark.anyio
async def test_typed_dialect(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": "typed"})
    _assert_framing(s)
    types = [json.loads(d)["type"] for d in s.data]
    assert "heartbeat" in types
    content = [t for t in types if t != "heartbeat"]
    assert content == ["tool_call", "tool_result", "text"]
    events = s.events
    assert events[0]["name"] == "generate_music"
    assert events[1]["result"]["status"] == "success"
    assert "background track" in events[2]["content"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("form", "line"),
    [
        ("comment", ": ping"),
        ("empty", "data:"),
        ("json", 'data: {"type":"heartbeat"}'),
        ("text", "data: heartbeat"),
    ],
)
async def test_heartbeat_forms(api: Api, form: str, line: str) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": f"hb={form}"})
    _assert_framing(s)
    assert s.lines.count(line) >= 2  # generation takes several heartbeat intervals
    assert len(s.texts()) == 1


@pytest.mark.anyio
async def test_thought_parts(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": "thoughts"})
    parts = _parts(s.events[-1])
    assert parts[0]["thought"] is True
    assert "thought" not in parts[1]
    assert s.texts() == [parts[1]["text"]]


@pytest.mark.anyio
async def test_error_frame_adk1_is_invalid_json(api: Api) -> None:
    sid = await api.new_session()
    before = await api.credits()
    s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": "error_v1"})
    _assert_framing(s)
    last = s.data[-1]
    assert last.startswith('{"error": "')
    with pytest.raises(ValueError):
        json.loads(last)
    assert (await api.state(sid))["draft"] is None  # nothing was applied
    assert await api.credits() == before  # and nothing charged


@pytest.mark.anyio
async def test_error_frame_adk2(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": "error_v2"})
    _assert_framing(s)
    frame = json.loads(s.data[-1])
    assert frame["error"].startswith("ResourceExhausted: ")
    details = frame["error_details"]
    assert details["error_type"] == "ResourceExhausted"
    assert details["error_message"]
    assert isinstance(details["timestamp"], float)


async def _wait_for_draft(api: Api, sid: str, timeout: float = 5.0) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            state = await api.state(sid)
            if state["draft"] is not None:
                return state
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_drop_mid_stream_is_a_broken_connection(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": "drop=1"})
    assert s.status == 200
    assert isinstance(s.error, httpx.RemoteProtocolError)  # not a clean end of stream
    assert len(s.events) == 1 and "functionCall" in _parts(s.events[0])[0]
    # the backend carries on: the edit lands in the state a little later
    assert (await api.state(sid))["draft"] is None
    state = await _wait_for_draft(api, sid)
    assert state["generated_media"]
    credits = await api.credits()
    assert credits["frozen"] == 0 and credits["available"] == 10_000 - 100


@pytest.mark.anyio
async def test_drop_configured_for_every_turn(api: Api, emu: EmulatorServer) -> None:
    emu.set_config(stream="drop=0")
    sid = await api.new_session()
    s = await api.chat(sid, BGM)
    assert isinstance(s.error, httpx.RemoteProtocolError)
    assert s.events == []


@pytest.mark.anyio
async def test_drop_without_applying(api: Api, emu: EmulatorServer) -> None:
    emu.set_config(broken_stream_applies_edit=False)
    sid = await api.new_session()
    s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": "drop=1"})
    assert isinstance(s.error, httpx.TransportError)
    await anyio.sleep(0.8)
    assert (await api.state(sid))["draft"] is None
    assert (await api.credits()) == {"available": 10_000, "frozen": 0, "total": 10_000}


@pytest.mark.anyio
async def test_heartbeats_only_until_the_client_gives_up(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(
        sid, BGM, headers={"X-Emulator-Stream": "heartbeats_only,hb=empty"}, give_up_after=0.6
    )
    assert s.status == 200
    assert s.error is None
    assert s.events == []
    assert s.lines.count("data:") >= 5
    assert all(line in ("data:", "") for line in s.lines)
    state = await _wait_for_draft(api, sid)  # the work itself went on
    assert state["draft"]["t"]


@pytest.mark.anyio
async def test_silent_edit_turn(api: Api) -> None:
    sid = await _session_with_draft(api)
    s = await api.chat(
        sid, 'add a title "Quiet" from 1 to 2 seconds', headers={"X-Emulator-Silent": "1"}
    )
    _assert_framing(s)
    assert s.texts() == []
    assert any("functionCall" in p for e in s.events for p in _parts(e))
    draft = (await api.state(sid))["draft"]
    titles = [sg for t in draft["t"] if t["tt"] == TRACK_TEXT for sg in t["sg"]]
    assert titles[0]["text"] == "Quiet"
    assert (titles[0]["s"], titles[0]["d"]) == (1000, 1000)


@pytest.mark.anyio
async def test_silent_turn_by_fault(api: Api, emu: EmulatorServer) -> None:
    sid = await _session_with_draft(api)
    emu.set_faults("run_sse:silent:times=1")
    assert (await api.chat(sid, "trim to 2 seconds")).texts() == []
    assert (await api.chat(sid, "trim to 1 second")).texts() != []


@pytest.mark.anyio
async def test_silent_edits_always(api: Api, emu: EmulatorServer) -> None:
    sid = await _session_with_draft(api)
    emu.set_config(silent_edits="always")
    s = await api.chat(sid, "set background music volume to 30%")
    assert s.texts() == []
    # a generation turn always answers with text
    s = await api.chat(sid, BGM)
    assert len(s.texts()) == 1


def test_silent_hash_is_about_thirty_percent() -> None:
    silent = sum(silent_by_hash(f"{1000000000000000000 + i}", i % 7, 30) for i in range(2000))
    assert 0.25 < silent / 2000 < 0.35
    assert silent_by_hash("1234567890123456789", 3, 30) == silent_by_hash(
        "1234567890123456789", 3, 30
    )


@pytest.mark.anyio
async def test_silent_edits_auto_follow_the_hash(api: Api, emu: EmulatorServer) -> None:
    emu.set_config(silent_edits="auto")
    sid = await _session_with_draft(api)
    for turn in range(2, 8):
        s = await api.chat(sid, f"set background music volume to {turn * 10}%")
        expected_silent = silent_by_hash(sid, turn, 30)
        assert (s.texts() == []) == expected_silent, turn


@pytest.mark.anyio
async def test_edits_change_the_draft(api: Api) -> None:
    sid = await _session_with_draft(api)
    s = await api.chat(sid, "set background-music volume to 35%")
    assert s.texts() and "35%" in s.texts()[0]
    s = await api.chat(sid, "trim to 3 seconds")
    assert "3 seconds" in s.texts()[0]
    s = await api.chat(sid, "change aspect ratio to 9:16")
    assert "9:16" in s.texts()[0]
    state = await api.state(sid)
    draft = state["draft"]
    bgm = [sg for t in draft["t"] if t["tt"] == TRACK_AUDIO for sg in t["sg"]]
    assert bgm and all(sg["vol"] == 35 for sg in bgm)
    assert draft["d"] == 3000
    assert all(sg["s"] + sg["d"] <= 3000 for t in draft["t"] for sg in t["sg"])
    assert (draft["m"]["width"], draft["m"]["height"]) == (1080, 1920)
    assert state["canvas_config"]["aspect_ratio"] == "9:16"
    credits = await api.credits()
    assert credits["available"] == 10_000 - 100 - 3 * 50


@pytest.mark.anyio
async def test_chinese_requests(api: Api, media: Media) -> None:
    sid = await _session_with_song(api, media)
    s = await api.chat(sid, "帮我根据这首歌做一个音乐视频")
    assert "音乐视频" in s.texts()[0]
    s = await api.chat(sid, "添加标题“夏日时光”，从1秒到3秒")
    assert "夏日时光" in s.texts()[0]
    s = await api.chat(sid, "背景音乐音量调到百分之二十")
    assert "20%" in s.texts()[0]
    s = await api.chat(sid, "比例改成1:1")
    draft = (await api.state(sid))["draft"]
    titles = [sg for t in draft["t"] if t["tt"] == TRACK_TEXT for sg in t["sg"]]
    assert titles[0]["text"] == "夏日时光" and titles[0]["s"] == 1000
    assert (draft["m"]["width"], draft["m"]["height"]) == (1080, 1080)


@pytest.mark.anyio
async def test_unknown_request_gets_a_helpful_reply(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, "what's the weather like?")
    _assert_framing(s)
    assert len(s.events) == 1
    assert "music video" in s.texts()[0]
    assert (await api.credits())["available"] == 10_000
    assert (await api.state(sid))["draft"] is None


@pytest.mark.anyio
async def test_edit_without_a_timeline_is_explained(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, "trim to 5 seconds")
    assert "nothing on the timeline" in s.texts()[0]
    assert (await api.credits())["available"] == 10_000


@pytest.mark.anyio
async def test_background_track_is_real_audio(api: Api) -> None:
    sid = await api.new_session()
    await api.chat(sid, "upbeat acoustic background music, 5 seconds")
    state = await api.state(sid)
    (track,) = state["generated_media"]
    assert track["type"] == "audio" and track["mood"] == "acoustic"
    r = await api.client.get(track["url"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/mpeg"
    with av.open(io.BytesIO(r.content)) as container:
        assert container.streams.audio
        assert abs(container.duration / 1_000_000 - 5.0) < 0.2
    draft = state["draft"]
    assert draft["d"] == 5000
    visual = [sg for t in draft["t"] if t["tt"] == 0 for sg in t["sg"]]
    assert visual[0]["type"] == "visual"


@pytest.mark.anyio
async def test_promo_from_photos_and_voiceover(api: Api, media: Media) -> None:
    sid = await api.new_session()
    await api.upload(sid, *media.photos, media.wav)
    s = await api.chat(
        sid, "turn these photos and audio into a 5-second promo video with transitions"
    )
    assert "5-second promo video" in s.texts()[0]
    draft = (await api.state(sid))["draft"]
    assert draft["d"] == 5000
    video = next(t for t in draft["t"] if t["tt"] == 0)["sg"]
    assert [sg["type"] for sg in video] == ["image"] * 3
    assert [sg["tr"] for sg in video] == ["fade", "crossfade", "crossfade"]
    assert sum(sg["d"] for sg in video) == 5000
    roles = {t["role"] for t in draft["t"] if t["tt"] == 1}
    assert roles == {"voiceover", "bgm"}


@pytest.mark.anyio
async def test_music_video_needs_a_song(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, "make a music video")
    assert "song" in s.texts()[0]
    assert (await api.credits())["available"] == 10_000


@pytest.mark.anyio
async def test_out_of_credits_as_an_adk_event(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    emu.set_credits(40, token=api.token)
    s = await api.chat(sid, BGM)
    _assert_framing(s)
    (ev,) = s.events
    assert ev["errorCode"] == "2001"
    assert "Insufficient credits" in ev["errorMessage"]
    assert "credits" in s.texts()[0]
    assert (await api.state(sid))["draft"] is None
    assert (await api.credits())["available"] == 40


@pytest.mark.anyio
async def test_out_of_credits_as_an_error_frame(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    emu.set_credits(0, token=api.token)
    emu.set_config(credits_error="error_frame")
    s = await api.chat(sid, BGM)
    frame = json.loads(s.data[-1])
    assert frame["error"].startswith("InsufficientCreditsError: 2001")


@pytest.mark.anyio
async def test_out_of_credits_at_rest_level(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    emu.set_credits(0, token=api.token)
    emu.set_config(credits_error="rest")
    s = await api.chat(sid, BGM)
    assert s.status == 402
    assert json.loads(s.body)["code"] == codes.NO_CREDITS


@pytest.mark.anyio
async def test_anonymous_credits_run_out_after_one_generation() -> None:
    async with serve(generation_seconds=0.05, heartbeat_interval=0.05) as api:
        sid = await api.new_session()
        first = await api.chat(sid, BGM)
        assert first.texts()
        second = await api.chat(sid, "trim to 2 seconds")
        assert second.events[-1]["errorCode"] == "2001"
        assert await api.credits() == {"available": 0, "frozen": 0, "total": 0}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"app_name": "nemo_agent", "session_id": "1"},
        {"app_name": "nemo agent!", "session_id": "1", "new_message": {"parts": [{"text": "x"}]}},
        {"app_name": "nemo_agent", "new_message": {"parts": [{"text": "x"}]}},
        {"app_name": "nemo_agent", "session_id": "1", "new_message": {"parts": [{"text": " "}]}},
    ],
)
async def test_bad_run_requests_are_422(api: Api, body: dict[str, Any]) -> None:
    sid = await api.new_session()
    body = {**body, "session_id": sid} if "session_id" in body else body
    s = await api.chat(sid, "", body=body)
    assert s.status == 422
    assert json.loads(s.body)["data"]["detail"]


@pytest.mark.anyio
async def test_bad_stream_header_is_400(api: Api) -> None:
    sid = await api.new_session()
    s = await api.chat(sid, BGM, headers={"X-Emulator-Stream": "sideways"})
    assert s.status == 400
