"""The emulator speaks the backend's variants: drafts in three shapes (the contract's JSON, labels
in segment metadata, Draft Protocol V3) in state and in ``stateDelta``, renders from each (a real
MP4), agent questions, and the model-error stream ending."""

from __future__ import annotations

import io
import json
from typing import Any

import av
import pytest
from emu_helpers import Api, Media, serve

from nemo_mcp.emulator import draft_shapes
from nemo_mcp.timeline.model import Timeline
from support.emulator import FAST

pytestmark = pytest.mark.anyio

PROMO = "turn these photos into a 6-second promo video with transitions"


async def _promo(api: Api, media: Media) -> str:
    sid = await api.new_session()
    r = await api.upload(sid, *media.photos, media.wav)
    assert r.status_code == 200, r.text
    stream = await api.chat(sid, PROMO + " in 16:9")
    assert stream.texts(), stream.lines
    return sid


def _duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video and container.streams.audio
        return float(container.duration or 0) / 1_000_000


@pytest.mark.parametrize("fmt", ["json", "json_meta", "v3"])
async def test_each_draft_shape_in_state_delta_and_render(media: Media, fmt: str) -> None:
    async with serve(**FAST, draft_format=fmt) as api:
        sid = await api.new_session()
        await api.upload(sid, *media.photos, media.wav)
        stream = await api.chat(sid, PROMO + " in 16:9")
        deltas = [
            ev["actions"]["stateDelta"]["draft"]
            for ev in stream.events
            if "draft" in (ev.get("actions") or {}).get("stateDelta", {})
        ]
        assert deltas, stream.lines
        state = await api.state(sid)
        draft = state["draft"]
        if fmt == "v3":
            assert isinstance(draft, str) and draft.startswith("<draft ")
            assert all(isinstance(d, str) and d.startswith("<draft ") for d in deltas)
            assert 'type="bgm"' in draft and "<transitions>" in draft
        else:
            assert isinstance(draft, dict) and draft["t"]
            segments = [sg for t in draft["t"] for sg in t["sg"]]
            if fmt == "json_meta":
                assert all("name" not in sg and "name" in sg["m"] for sg in segments)
            else:
                assert all("name" in sg for sg in segments)
        # the product reads all three the same way
        timeline = Timeline.from_state({"state": state})
        assert timeline.draft_problem is None and timeline.is_export_ready
        assert '"one.jpg"' in timeline.summary() and "BGM" in timeline.summary()

        r = await api.submit_render(sid, draft, f"render_{fmt}")
        assert r.status_code == 200, r.text
        body = await api.wait_render(f"render_{fmt}")
        assert body["status"] == "completed", body
        mp4 = await api.client.get(body["output"]["url"])
        assert abs(_duration(mp4.content) - 6.0) < 0.2
        render = api.server.render(f"render_{fmt}")
        assert render is not None
        assert render.received_draft == (draft if fmt == "v3" else None)


def test_v3_round_trip_keeps_what_the_renderer_draws() -> None:
    draft: dict[str, Any] = {
        "t": [
            {
                "id": "trk_v",
                "tt": 0,
                "n": "Video",
                "role": "main",
                "sg": [
                    {
                        "id": "a",
                        "type": "image",
                        "s": 0,
                        "d": 2000,
                        "src": "/cdn/media/m_1/a.jpg",
                        "name": "a.jpg",
                        "fx": "kenburns",
                        "fit": "cover",
                    },
                    {
                        "id": "b",
                        "type": "video",
                        "s": 2000,
                        "d": 2000,
                        "src": "/cdn/media/m_2/b.mp4",
                        "in": 500,
                        "vol": 30,
                        "tr": "crossfade",
                        "trd": 600,
                    },
                    {
                        "id": "c",
                        "type": "visual",
                        "s": 4000,
                        "d": 1000,
                        "style": "waveform",
                        "hue": 210,
                        "name": "Audio visualizer",
                    },
                ],
            },
            {
                "id": "trk_t",
                "tt": 7,
                "n": "Titles",
                "role": "title",
                "sg": [
                    {
                        "id": "t",
                        "type": "text",
                        "s": 0,
                        "d": 1500,
                        "text": "Tom & <Jerry>",
                        "pos": "center",
                        "size": 96,
                        "color": "#ffffff",
                    }
                ],
            },
            {
                "id": "trk_m",
                "tt": 1,
                "n": "BGM",
                "role": "bgm",
                "sg": [
                    {
                        "id": "m",
                        "type": "audio",
                        "s": 0,
                        "d": 5000,
                        "src": "/cdn/media/m_3/m.mp3",
                        "vol": 40,
                        "fo": 1500,
                    }
                ],
            },
        ],
        "d": 5000,
        "m": {"title": "Trip", "width": 1080, "height": 1920, "fps": 30, "ratio": "9:16"},
    }
    text = draft_shapes.to_v3(draft)
    back = draft_shapes.from_v3(text)
    assert back["d"] == 5000 and back["m"]["width"] == 1080 and back["m"]["title"] == "Trip"
    video, title, music = back["t"]
    assert [(s["type"], s["s"], s["d"]) for s in video["sg"]] == [
        ("image", 0, 2000),
        ("video", 2000, 2000),
        ("visual", 4000, 1000),
    ]
    assert video["sg"][0]["fx"] == "kenburns" and video["sg"][1]["in"] == 500
    assert video["sg"][1]["vol"] == 30 and (video["sg"][1]["tr"], video["sg"][1]["trd"]) == (
        "crossfade",
        600,
    )
    assert (video["sg"][2]["style"], video["sg"][2]["hue"]) == ("waveform", 210)
    assert title["tt"] == 7 and title["sg"][0]["text"] == "Tom & <Jerry>"
    assert (music["tt"], music["role"], music["sg"][0]["vol"]) == (1, "bgm", 40)
    assert draft_shapes.accept(text) == back
    assert draft_shapes.accept(json.dumps(draft)) == draft
    assert draft_shapes.from_meta(draft_shapes.to_meta(draft)) == draft
    assert draft_shapes.accept('<!DOCTYPE d [<!ENTITY e "x">]><draft/>') is None
    assert draft_shapes.accept("<draft><track>") is None


async def test_agent_questions_stop_the_turn_and_the_answer_resumes_it(media: Media) -> None:
    async with serve(**FAST, agent_questions=True) as api:
        sid = await api.new_session()
        await api.upload(sid, *media.photos)
        asked = await api.chat(sid, PROMO)
        calls = [
            part["functionCall"]
            for ev in asked.events
            for part in (ev.get("content") or {}).get("parts", [])
            if "functionCall" in part
        ]
        assert [c["name"] for c in calls] == ["ask_question"]
        assert calls[0]["args"]["options"] == [
            "16:9 (landscape)",
            "9:16 (vertical)",
            "1:1 (square)",
        ]
        long_running = [ev.get("longRunningToolIds") for ev in asked.events]
        assert [calls[0]["id"]] in long_running
        assert asked.texts() == []
        assert (await api.state(sid))["draft"] is None  # nothing was made, nothing charged
        assert (await api.credits())["available"] == FAST["anon_credits"]

        answered = await api.chat(sid, "9:16 (vertical)")
        assert answered.texts()
        state = await api.state(sid)
        assert state["draft"]["m"]["ratio"] == "9:16"
        assert state["canvas_config"]["aspect_ratio"] == "9:16"


async def test_model_error_ending(media: Media) -> None:
    async with serve(**FAST, stream="model_error") as api:
        sid = await api.new_session()
        await api.upload(sid, media.song)
        stream = await api.chat(sid, "make a music video synced to my song")
        last = stream.events[-1]
        assert last["errorCode"] == "MALFORMED_FUNCTION_CALL" and last["errorMessage"]
        assert (await api.state(sid))["draft"] is None
    async with serve(**FAST, stream="typed,model_error") as api:
        sid = await api.new_session()
        await api.upload(sid, media.song)
        stream = await api.chat(sid, "make a music video synced to my song")
        assert stream.events[-1]["type"] == "error"
