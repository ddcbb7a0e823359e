"""Export: submit checks (402, empty draft, duplicate id), the three poll shapes, cancel, forced
failures, real MP4 output probed with PyAV, and downloads with byte ranges."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import anyio
import av
import httpx
import pytest
from emu_helpers import ATTRIBUTION, Api, Media, serve

from nemo_mcp.contract import codes, headers, paths, renders
from nemo_mcp.emulator import EmulatorServer
from support.emulator import FAST


def tiny_draft(seconds: float = 1.0, width: int = 320, height: int = 180) -> dict[str, Any]:
    return {
        "t": [
            {
                "tt": 0,
                "sg": [{"type": "color", "color": "#3366aa", "s": 0, "d": int(seconds * 1000)}],
            }
        ],
        "d": int(seconds * 1000),
        "m": {"title": "tiny", "width": width, "height": height},
    }


def probe(data: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(data)) as c:
        video = c.streams.video[0]
        audio = c.streams.audio[0]
        return {
            "video": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "audio": audio.codec_context.name,
            "duration": c.duration / 1_000_000,
        }


async def _completed(api: Api, render_id: str = "render_ok") -> dict[str, Any]:
    sid = await api.new_session()
    r = await api.submit_render(sid, tiny_draft(), render_id)
    assert r.status_code == 200, r.text
    body = await api.wait_render(render_id)
    assert body["status"] == "completed", body
    return body


@pytest.mark.anyio
async def test_submit_and_bare_poll(api: Api) -> None:
    sid = await api.new_session()
    r = await api.submit_render(sid, tiny_draft(), "render_1")
    assert r.json() == {
        "success": True,
        "data": {"id": "render_1", "status": "pending", "progress": 5},
    }
    seen = set()
    body: dict[str, Any] = {}
    for _ in range(300):
        body = (
            await api.client.get(
                paths.fill(paths.RENDER_STATUS, render_id="render_1"), headers=api.headers()
            )
        ).json()
        seen.add(body["status"])
        if body["status"] == "completed":
            break
        await anyio.sleep(0.02)
    assert "pending" in seen
    assert body["taskId"] == "render_1"
    assert body["progress"] == 100
    out = body["output"]
    assert out["url"].startswith(api.server.url)
    assert abs(out["duration"] - 1.0) < 0.05
    assert out["size"] > 1000
    file = await api.client.get(out["url"])
    assert len(file.content) == out["size"]
    info = probe(file.content)
    assert (info["video"], info["audio"], info["pix_fmt"]) == ("h264", "aac", "yuv420p")
    side = FAST["render_max_side"]  # the draft's 320x180, scaled down for the tests
    assert (info["width"], info["height"]) == (side, side * 9 // 16)


@pytest.mark.anyio
@pytest.mark.parametrize("missing", headers.ATTRIBUTION)
async def test_missing_attribution_is_402(api: Api, missing: str) -> None:
    sid = await api.new_session()
    sent = {k: v for k, v in api.headers().items() if k != missing}
    r = await api.submit_render(sid, tiny_draft(), "render_402", headers=sent)
    assert r.status_code == 402
    body = r.json()
    assert body["success"] is False and body["code"] == 402
    assert missing in body["message"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "draft", [None, {}, {"t": []}, {"t": [{"tt": 0, "sg": []}]}, "not a draft"]
)
async def test_empty_draft_is_refused(api: Api, draft: Any) -> None:
    sid = await api.new_session()
    r = await api.submit_render(sid, draft, "render_empty")
    assert r.status_code == 400
    assert r.json()["success"] is False
    assert "empty" in r.json()["message"]


@pytest.mark.anyio
async def test_submit_body_checks(api: Api) -> None:
    sid = await api.new_session()
    r = await api.client.post(
        paths.RENDER,
        headers=api.headers(),
        json={"id": "r", "session_id": sid, "draft": tiny_draft()},
    )
    assert r.status_code == 400 and "sessionId" in r.json()["message"]
    r = await api.client.post(
        paths.RENDER, headers=api.headers(), json={"sessionId": sid, "draft": tiny_draft()}
    )
    assert r.status_code == 400 and "id" in r.json()["message"]
    r = await api.submit_render("1111111111111111111", tiny_draft(), "render_x")
    assert r.json()["code"] == codes.SESSION_NOT_FOUND


@pytest.mark.anyio
async def test_duplicate_id_is_refused(api: Api) -> None:
    sid = await api.new_session()
    assert (await api.submit_render(sid, tiny_draft(), "render_dup")).status_code == 200
    r = await api.submit_render(sid, tiny_draft(), "render_dup")
    assert r.status_code == 409
    assert r.json()["success"] is False
    assert "already exists" in r.json()["message"]


@pytest.mark.anyio
async def test_poll_shapes(api: Api, emu: EmulatorServer) -> None:
    await _completed(api)
    path = paths.fill(paths.RENDER_STATUS, render_id="render_ok")
    r = await api.client.get(path, headers=api.headers(**{"X-Emulator-Poll-Shape": "success"}))
    body = r.json()
    assert body["success"] is True
    data = body["data"]
    assert (data["id"], data["status"], data["progress"]) == ("render_ok", "completed", 100)
    assert data["outputUrl"].endswith("/cdn/renders/render_ok.mp4")
    assert data["completedAt"] >= data["createdAt"] > 1_000_000_000_000
    emu.set_config(poll_shape="code")
    body = (await api.client.get(path, headers=api.headers())).json()
    assert body["code"] == 0
    assert body["data"]["render_id"] == "render_ok"
    assert body["data"]["output"]["url"] == data["outputUrl"]
    r = await api.client.get(path, headers=api.headers(**{"X-Emulator-Poll-Shape": "weird"}))
    assert r.status_code == 400
    r = await api.client.get(
        paths.fill(paths.RENDER_STATUS, render_id="nope"), headers=api.headers()
    )
    assert r.status_code == 404 and r.json()["success"] is False


@pytest.mark.anyio
async def test_cancel(api: Api, emu: EmulatorServer) -> None:
    emu.set_config(render_pending_seconds=5.0)
    sid = await api.new_session()
    await api.submit_render(sid, tiny_draft(), "render_c")
    r = await api.client.post(
        paths.fill(paths.RENDER_CANCEL, render_id="render_c"), headers=api.headers()
    )
    assert r.json() == {"success": True, "data": {"id": "render_c", "status": "cancelled"}}
    body = await api.wait_render("render_c")
    assert body["status"] == "cancelled"
    emu.set_config(render_pending_seconds=0.05)
    await _completed(api, "render_done")
    r = await api.client.post(
        paths.fill(paths.RENDER_CANCEL, render_id="render_done"), headers=api.headers()
    )
    assert r.status_code == 409


@pytest.mark.anyio
async def test_cancel_while_processing(api: Api, emu: EmulatorServer) -> None:
    emu.set_config(render_slowdown=5.0)  # 5 s of wall clock per second of video
    sid = await api.new_session()
    await api.submit_render(sid, tiny_draft(2.0), "render_slow")
    for _ in range(200):
        body = (
            await api.client.get(
                paths.fill(paths.RENDER_STATUS, render_id="render_slow"), headers=api.headers()
            )
        ).json()
        if body["status"] == "processing" and body["progress"] > 5:
            break
        await anyio.sleep(0.02)
    assert body["status"] == "processing"
    assert 5 < body["progress"] < 100
    r = await api.client.post(
        paths.fill(paths.RENDER_CANCEL, render_id="render_slow"), headers=api.headers()
    )
    assert r.json()["success"] is True
    assert (await api.wait_render("render_slow", timeout=10))["status"] == "cancelled"


@pytest.mark.anyio
async def test_forced_failures(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    # through the control API, on a render that is still waiting
    emu.set_config(render_pending_seconds=2.0)
    await api.submit_render(sid, tiny_draft(), "render_f1")
    r = await api.client.post("/_emulator/renders/render_f1/fail", json={"reason": "GPU on fire"})
    assert r.status_code == 200
    body = await api.wait_render("render_f1")
    assert body["status"] == "failed" and body["error"] == "GPU on fire"
    assert "output" not in body
    emu.set_config(render_pending_seconds=0.05)
    # through a fault on submit
    emu.set_faults("render_submit:fail:times=1")
    await api.submit_render(sid, tiny_draft(), "render_f2")
    assert (await api.wait_render("render_f2"))["status"] == "failed"
    # through the config: the next N renders fail
    emu.set_config(fail_renders=1)
    await api.submit_render(sid, tiny_draft(), "render_f3")
    await api.submit_render(sid, tiny_draft(), "render_f4")
    assert (await api.wait_render("render_f3"))["status"] == "failed"
    assert (await api.wait_render("render_f4"))["status"] == "completed"
    assert emu.config.fail_renders == 0
    # and from a helper, even after completion
    emu.fail_render("render_f4", "late failure")
    assert (await api.wait_render("render_f4"))["error"] == "late failure"


@pytest.mark.anyio
async def test_download_with_ranges(api: Api) -> None:
    body = await _completed(api)
    url = body["output"]["url"]
    full = await api.client.get(url)
    assert full.status_code == 200
    assert full.headers["accept-ranges"] == "bytes"
    assert int(full.headers["content-length"]) == len(full.content) == body["output"]["size"]
    data = full.content
    size = len(data)
    api_path = paths.fill(paths.RENDER_DOWNLOAD, render_id="render_ok")
    part = await api.client.get(api_path, headers=api.headers(Range="bytes=100-1099"))
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    assert part.headers["content-length"] == "1000"
    assert part.content == data[100:1100]
    tail = await api.client.get(url, headers={"Range": "bytes=-200"})
    assert (tail.status_code, tail.content) == (206, data[-200:])
    rest = await api.client.get(url, headers={"Range": f"bytes={size - 10}-"})
    assert rest.content == data[-10:]
    for bad in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=50-10"):
        r = await api.client.get(url, headers={"Range": bad})
        assert r.status_code == 416, bad
        assert r.headers["content-range"] == f"bytes */{size}"
    head = await api.client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == size
    # If-Range with a stale validator gets the whole file
    stale = await api.client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and len(stale.content) == size
    # the /api download needs the token; the CDN URL does not
    r = await api.client.get(api_path, headers=ATTRIBUTION)
    assert r.status_code == 401


@pytest.mark.anyio
async def test_download_not_ready_yet(api: Api, emu: EmulatorServer) -> None:
    emu.set_config(render_pending_seconds=5.0)
    sid = await api.new_session()
    await api.submit_render(sid, tiny_draft(), "render_wait")
    r = await api.client.get(
        paths.fill(paths.RENDER_DOWNLOAD, render_id="render_wait"), headers=api.headers()
    )
    assert r.status_code == 409


@pytest.mark.anyio
async def test_truncated_download(api: Api, emu: EmulatorServer) -> None:
    body = await _completed(api)
    emu.set_faults("download:truncate=1000:times=1")
    got = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        async with api.client.stream(
            "GET", paths.fill(paths.RENDER_DOWNLOAD, render_id="render_ok"), headers=api.headers()
        ) as resp:
            assert resp.headers["content-length"] == str(body["output"]["size"])
            async for chunk in resp.aiter_raw():
                got += chunk
    assert len(got) == 1000
    # the next download is whole again
    r = await api.client.get(
        paths.fill(paths.RENDER_DOWNLOAD, render_id="render_ok"), headers=api.headers()
    )
    assert len(r.content) == body["output"]["size"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_render_of_a_generated_draft(media: Media) -> None:
    """The agent's promo draft, rendered for real at its own resolution and duration."""
    async with serve(
        generation_seconds=0.05,
        heartbeat_interval=0.05,
        render_pending_seconds=0.05,
        render_preset="ultrafast",
        anon_credits=1000,
    ) as api:
        sid = await api.new_session()
        await api.upload(sid, media.photos[0], media.clip, media.photos[1], media.wav)
        await api.chat(sid, "turn these photos and audio into a 4-second promo video")
        await api.chat(sid, "change the aspect ratio to 1:1")
        await api.chat(sid, 'add a title "Launch Day" from 0.5 to 2.5 seconds')
        state = await api.state(sid)
        draft = state["draft"]
        draft["m"]["width"] = draft["m"]["height"] = 480  # keep the test quick
        r = await api.submit_render(sid, draft, "render_promo")
        assert r.status_code == 200
        # the server stays responsive while it encodes
        slowest = 0.0
        with anyio.fail_after(120):
            while True:
                began = time.monotonic()
                r = await api.client.get(
                    paths.fill(paths.RENDER_STATUS, render_id="render_promo"), headers=api.headers()
                )
                slowest = max(slowest, time.monotonic() - began)
                if r.json()["status"] in renders.TERMINAL:
                    break
                await anyio.sleep(0.05)
        assert slowest < 1.0
        body = r.json()
        assert body["status"] == "completed", body
        data = (await api.client.get(body["output"]["url"])).content
    info = probe(data)
    assert (info["video"], info["audio"], info["pix_fmt"]) == ("h264", "aac", "yuv420p")
    assert (info["width"], info["height"]) == (480, 480)
    assert abs(info["duration"] - draft["d"] / 1000) <= 0.2
    # the mp4 is "faststart": the moov box comes before the media data
    assert data.find(b"moov") < data.find(b"mdat")


def _ten_second_draft(media: Media) -> dict[str, Any]:
    photos = [
        {
            "type": "image",
            "src": f"/cdn/media/{mid}/x.jpg",
            "s": i * 2500,
            "d": 2500,
            "fx": "kenburns",
            "tr": "crossfade" if i else "fade",
            "trd": 600,
        }
        for i, mid in enumerate(["m_01", "m_02", "m_03", "m_01"])
    ]
    return {
        "t": [
            {"tt": 0, "sg": photos},
            {
                "tt": 1,
                "role": "bgm",
                "sg": [
                    {"type": "audio", "src": "/cdn/media/m_04/s.mp3", "s": 0, "d": 10000, "vol": 60}
                ],
            },
            {"tt": 7, "sg": [{"type": "text", "text": "Ten seconds", "s": 500, "d": 3000}]},
        ],
        "d": 10000,
        "m": {"title": "bench", "width": 1920, "height": 1080, "fps": 30},
    }


@pytest.mark.slow
def test_ten_second_1080p_render_time(media: Media, tmp_path: Path) -> None:
    from nemo_mcp.emulator.render.encode import render_draft

    files = {
        "m_01": media.photos[0],
        "m_02": media.photos[1],
        "m_03": media.photos[2],
        "m_04": media.song,
    }

    def resolve(seg: dict[str, Any]) -> Path | None:
        return files.get(str(seg["src"]).split("/")[3])

    out = tmp_path / "ten.mp4"
    began = time.monotonic()
    result = render_draft(_ten_second_draft(media), out, resolve=resolve)
    elapsed = time.monotonic() - began
    print(f"\n10 s 1080p render (libx264 veryfast): {elapsed:.1f} s")
    info = probe(out.read_bytes())
    assert (info["width"], info["height"]) == (1920, 1080)
    assert abs(info["duration"] - 10.0) <= 0.2
    assert result.seconds_taken < 120  # a sanity bound, not a benchmark


@pytest.mark.anyio
async def test_audio_only_draft_gets_a_generated_visual(api: Api, media: Media) -> None:
    sid = await api.new_session()
    (song,) = (await api.upload(sid, media.song)).json()["data"]["files"]
    draft = {
        "t": [{"tt": 1, "sg": [{"type": "audio", "src": song["cdn_url"], "s": 0, "d": 1500}]}],
        "d": 1500,
    }
    await api.submit_render(sid, draft, "render_audio")
    body = await api.wait_render("render_audio")
    assert body["status"] == "completed", body
    data = (await api.client.get(body["output"]["url"])).content
    info = probe(data)
    side = FAST["render_max_side"]  # 1920x1080, scaled down for the tests
    assert (info["width"], info["height"]) == (side, side * 9 // 16)
    assert abs(info["duration"] - 1.5) <= 0.2
    with av.open(io.BytesIO(data)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert frame.std() > 5  # a drawn gradient, not a flat colour
