"""Pure pieces of the emulator: message parsing (EN/ZH), the draft helpers, stream-variant and
Range parsing, config updates, and the synthetic media generators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from nemo_mcp.emulator import StreamSpec, parse_stream_spec
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.agent import number, parse_message
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.http import parse_range
from nemo_mcp.emulator.render import synth
from nemo_mcp.emulator.render.media import estimate_bpm, probe
from nemo_mcp.emulator.sse import split_text


@pytest.mark.parametrize(
    ("message", "kind", "fields"),
    [
        ("generate a music video clip synced to my song with matching visuals", "music_video", {}),
        ("帮我做一个音乐视频", "music_video", {}),
        ("make an MV for this track", "music_video", {}),
        (
            "turn these photos and audio into a 30-second promo video with transitions",
            "promo",
            {"seconds": 30.0},
        ),
        ("把这些照片做成三十秒的宣传视频", "promo", {"seconds": 30.0}),
        (
            "generate a 30-second royalty-free background track for my video",
            "music",
            {"seconds": 30.0},
        ),
        ("upbeat acoustic background music", "music", {"seconds": None}),
        ("生成一段20秒的背景音乐", "music", {"seconds": 20.0}),
        ("compose a 2-minute calm soundtrack", "music", {"seconds": 120.0}),
        (
            'add a title "Summer Vibes" from 2 to 5 seconds',
            "title",
            {"text": "Summer Vibes", "start": 2.0, "end": 5.0},
        ),
        ("add title 'Hello' at 3s", "title", {"text": "Hello", "start": 3.0, "end": 6.0}),
        (
            "add the title Urban Dreams for the first 3 seconds",
            "title",
            {"text": "Urban Dreams", "start": 0.0, "end": 3.0},
        ),
        ("添加标题“夏日时光”，从2秒到5秒", "title", {"text": "夏日时光", "start": 2.0, "end": 5.0}),
        ("添加标题：我的旅行，前3秒", "title", {"text": "我的旅行", "start": 0.0, "end": 3.0}),
        ("set background-music volume to 30%", "volume", {"percent": 30}),
        ("背景音乐音量调到百分之三十", "volume", {"percent": 30}),
        ("背景音乐音量 45%", "volume", {"percent": 45}),
        ("mute the music", "volume", {"percent": 0}),
        ("trim to 15 seconds", "trim", {"seconds": 15.0}),
        ("裁剪到十五秒", "trim", {"seconds": 15.0}),
        ("change aspect ratio to 9:16", "aspect", {"ratio": "9:16"}),
        ("比例改成1:1", "aspect", {"ratio": "1:1"}),
        ("make it vertical", "aspect", {"ratio": "9:16"}),
        ("改成横屏", "aspect", {"ratio": "16:9"}),
        ("export", "export", {}),
        ("导出视频", "export", {}),
        ("show tracks", "status", {}),
        ("hello there", "help", {}),
    ],
)
def test_parse_message(message: str, kind: str, fields: dict[str, Any]) -> None:
    intent = parse_message(message)[0]
    assert intent.kind == kind
    for key, value in fields.items():
        assert getattr(intent, key) == value, key


def test_parse_several_intents() -> None:
    kinds = [
        i.kind
        for i in parse_message("generate a 20-second calm background track and set volume to 50%")
    ]
    assert kinds == ["music", "volume"]
    kinds = [i.kind for i in parse_message("make a vertical promo video from my photos")]
    assert kinds == ["promo", "aspect"]
    kinds = [
        i.kind for i in parse_message('add a title "A" from 0 to 2 seconds and trim to 8 seconds')
    ]
    assert kinds == ["title", "trim"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30", 30.0),
        ("2.5", 2.5),
        ("十", 10.0),
        ("十五", 15.0),
        ("三十", 30.0),
        ("一百二十", 120.0),
        ("两", 2.0),
    ],
)
def test_numbers(text: str, value: float) -> None:
    assert number(text) == value


def _draft() -> dict[str, Any]:
    d = dr.new_draft("t")
    dr.track(d, 0, "main", "Video")["sg"].append({"type": "color", "s": 0, "d": 6000})
    dr.track(d, 1, "bgm", "BGM")["sg"].append(
        {"type": "audio", "s": 0, "d": 6000, "vol": 100, "src": "/cdn/media/m_ab12/a.mp3"}
    )
    dr.track(d, 1, "voiceover", "Voiceover")["sg"].append(
        {"type": "audio", "s": 1000, "d": 4000, "vol": 100}
    )
    dr.refresh_duration(d)
    return d


def test_draft_edits() -> None:
    d = _draft()
    assert dr.is_ready(d) and not dr.is_ready({"t": []}) and not dr.is_ready(None)
    assert d["d"] == 6000
    assert dr.set_music_volume(d, 35) == 1
    voice = dr.tracks_of(d, 1)[1]["sg"][0]
    assert voice["vol"] == 100  # the voiceover is not background music
    seg = dr.add_title(d, "Hi", 5000, 9000)
    assert (seg["s"], seg["d"]) == (5000, 1000)  # clipped to the draft
    dr.trim(d, 3000)
    assert d["d"] == 3000
    assert all(sg["s"] + sg["d"] <= 3000 for t in d["t"] for sg in t["sg"])
    assert not dr.tracks_of(d, 7)[0]["sg"]  # the title started after the cut
    assert dr.set_aspect(d, "1:1") == (1080, 1080)
    assert [t["tt"] for t in d["t"]] == sorted(t["tt"] for t in d["t"])
    summary = dr.summary(d)
    assert summary.startswith("Timeline (3 tracks, 3s, 1080x1080)")
    assert "BGM: a.mp3 (0-3s, 35%)" in summary


def test_urls_are_absolutized_and_recognised() -> None:
    d = _draft()
    abs_d = dr.absolutize(d, "http://127.0.0.1:9999/")
    src = abs_d["t"][1]["sg"][0]["src"]
    assert src == "http://127.0.0.1:9999/cdn/media/m_ab12/a.mp3"
    assert d["t"][1]["sg"][0]["src"].startswith("/cdn/")  # the original is untouched
    assert dr.media_id_of(src) == "m_ab12"
    assert dr.media_id_of("/cdn/media/m_ab12/a.mp3") == "m_ab12"
    assert dr.media_id_of("https://cdn.example.com/cdn/x.mp3") is None
    assert dr.media_id_of(None) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=1000-", False),
        ("bytes=50-10", False),
        ("bytes=-0", False),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=abc", None),
    ],
)
def test_parse_range(header: str | None, expected: object) -> None:
    assert parse_range(header, 1000) == expected


def test_stream_spec() -> None:
    assert parse_stream_spec("") == StreamSpec()
    spec = parse_stream_spec("snake, partial ,hb=empty,drop=3,thoughts")
    assert spec == StreamSpec("adk_snake", True, "empty", "drop", 3, True)
    assert StreamSpec().heartbeat is None
    assert parse_stream_spec("typed").merge("error_v1").ending == "error_v1"
    assert parse_stream_spec("partial").merge("nopartial").partial is False
    for bad in ("sideways", "hb=loud", "drop=x", "partial=1"):
        with pytest.raises(ValueError):
            parse_stream_spec(bad)


@pytest.mark.parametrize(
    "text",
    ["Your music video is ready: 12 scenes.", "音乐视频已生成：按照节拍剪辑了镜头。", "ok", ""],
)
def test_partial_deltas_rebuild_the_text(text: str) -> None:
    pieces = split_text(text)
    assert "".join(pieces) == text
    if len(text) >= 8:
        assert len(pieces) >= 3


def test_config_updates() -> None:
    cfg = EmulatorConfig()
    new = cfg.updated({"generation_seconds": "2", "broken_stream_applies_edit": "false"})
    assert new.generation_seconds == 2.0 and new.broken_stream_applies_edit is False
    assert cfg.generation_seconds != 2.0  # a copy
    with pytest.raises(ValueError):
        cfg.updated({"public_url": "http://x"})
    with pytest.raises(ValueError):
        EmulatorConfig(stream="nope")
    assert EmulatorConfig(upload_limit_mb=1).upload_limit_bytes == 1024 * 1024
    assert cfg.to_dict()["registered_tokens"] == []


@pytest.mark.parametrize("ext", ["mp3", "wav", "m4a"])
def test_make_song(tmp_path: Path, ext: str) -> None:
    path = synth.make_song(tmp_path / f"s.{ext}", 5.0, bpm=100)
    info = probe(path)
    assert abs(info["duration"] - 5.0) < 0.1
    assert estimate_bpm(path) == pytest.approx(100, abs=2)


def test_make_photo_and_clip(tmp_path: Path) -> None:
    jpg = synth.make_photo(tmp_path / "p.jpg", "Hello 你好", size=(640, 480), color="teal")
    png = synth.make_photo(tmp_path / "p.png", "Two")
    with Image.open(jpg) as img:
        assert (img.format, img.size) == ("JPEG", (640, 480))
    with Image.open(png) as img:
        assert (img.format, img.size) == ("PNG", (1280, 720))
    clip = synth.make_clip(tmp_path / "c.mp4", 2.0, size=(320, 180))
    with av.open(str(clip)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.codec_context.width, v.codec_context.height) == (
            "h264",
            320,
            180,
        )
        assert c.streams.audio[0].codec_context.name == "aac"
        assert abs(c.duration / 1_000_000 - 2.0) < 0.1
    with pytest.raises(ValueError):
        synth.make_photo(tmp_path / "p.bmp", "x")
    with pytest.raises(ValueError):
        synth.make_song(tmp_path / "s.flac", 1.0)


def test_moods() -> None:
    assert synth.mood_of("upbeat acoustic background music") == "acoustic"
    assert synth.mood_of("something calm and relaxing") == "calm"
    assert synth.mood_of("史诗感的配乐") == "epic"
    assert synth.mood_of("anything") == "upbeat"
    samples = synth.synth_music(2.0, mood="sad", seed=1)
    assert samples.shape == (2, 88200)
    assert 0.5 < float(abs(samples).max()) <= 0.81
