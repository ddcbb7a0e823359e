"""Real renders: a draft becomes an MP4 (H.264 yuv420p + AAC, faststart) with PyAV.

What is drawn, per frame, at the draft's resolution (``m.width`` x ``m.height``) and duration
(``d``):

- video tracks (tt 0), the topmost track with a segment at that time wins: images scaled to
  cover (or letterboxed over a blurred copy when the aspect ratios differ a lot), with a slow Ken
  Burns zoom and pan when ``fx`` is ``kenburns``; video clips decoded with PyAV from ``in``;
  ``color`` segments; ``visual`` segments (an animated gradient with bars that follow the audio);
  crossfade / fade-from-black transitions (``tr``, ``trd``);
- text tracks (tt 7): titles drawn with Pillow, with a short fade in and out;
- audio tracks (tt 1) and clips with ``vol`` > 0, mixed at their volume with fades.

A segment whose media cannot be found (e.g. a URL the emulator did not fetch) is drawn as a card
with its name and contributes silence. Rendering runs in a worker thread; ``progress`` is called
with real encoding progress and ``cancelled`` is checked every frame.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import av
import numpy as np

from nemo_mcp.contract.draft import TRACK_TEXT, TRACK_VIDEO
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.config import DEFAULT_HEIGHT, DEFAULT_WIDTH, RENDER_FPS, RENDER_PRESET
from nemo_mcp.emulator.render import audio
from nemo_mcp.emulator.render.compose import Compositor, Placed
from nemo_mcp.emulator.render.media import SAMPLE_RATE, FloatArray
from nemo_mcp.emulator.render.pixels import U8, even, hex_rgb
from nemo_mcp.emulator.render.titles import Title, draw_title, make_title

MAX_RENDER_SECONDS: Final = 1800.0
MAX_SIDE: Final = 3840
CRF: Final = {"high": 20, "medium": 23, "low": 28}
RESOLUTIONS: Final = {"480p": 480, "540p": 540, "720p": 720, "1080p": 1080, "1440p": 1440}
AUDIO_BITRATE: Final = 160_000


class RenderError(Exception):
    """The draft cannot be rendered; the message says why."""


class RenderCancelled(Exception):
    pass


@dataclass
class RenderResult:
    duration: float
    size: int
    width: int
    height: int
    fps: int
    seconds_taken: float


def canvas_of(draft: dict[str, Any], output: dict[str, Any] | None) -> tuple[int, int, int]:
    meta = draft.get("m") if isinstance(draft.get("m"), dict) else {}
    assert isinstance(meta, dict)
    width = int(meta.get("width") or DEFAULT_WIDTH)
    height = int(meta.get("height") or DEFAULT_HEIGHT)
    fps = int(meta.get("fps") or RENDER_FPS)
    output = output or {}
    res = output.get("resolution")
    if isinstance(res, str) and res.lower() in RESOLUTIONS:
        target = RESOLUTIONS[res.lower()]
        scale = target / min(width, height)
        width, height = round(width * scale), round(height * scale)
    if output.get("fps"):
        fps = int(output["fps"])
    width, height = even(min(max(width, 16), MAX_SIDE)), even(min(max(height, 16), MAX_SIDE))
    return width, height, max(1, min(fps, 60))


def _layers(
    draft: dict[str, Any], width: int, height: int
) -> tuple[list[list[Placed]], list[Title]]:
    """The draft's video tracks (segments placed in time) and its titles."""
    video_tracks: list[list[Placed]] = []
    titles: list[Title] = []
    for trk in draft.get("t", []):
        if not isinstance(trk, dict):
            continue
        segs = [s for s in trk.get("sg", []) if isinstance(s, dict)]
        if trk.get("tt") == TRACK_TEXT:
            for seg in segs:
                title = make_title(seg, width, height)
                if title is not None:
                    titles.append(title)
        elif trk.get("tt") == TRACK_VIDEO:
            items = sorted(
                (
                    Placed(s, int(s.get("s", 0)), int(s.get("s", 0)) + int(s.get("d", 0)), i)
                    for i, s in enumerate(segs)
                ),
                key=lambda x: x.start,
            )
            video_tracks.append(items)
    return video_tracks, titles


def render_draft(
    draft: dict[str, Any],
    out_path: Path,
    *,
    resolve: audio.Resolver,
    output: dict[str, Any] | None = None,
    default_fps: int | None = None,
    preset: str = RENDER_PRESET,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    slowdown: float = 0.0,
    max_side: int | None = None,
) -> RenderResult:
    """Render ``draft`` to ``out_path`` (written to a temporary name, then renamed).

    ``max_side`` caps the output's longer side (scaling it down), for quick test renders.
    """
    began = time.monotonic()
    if not dr.is_ready(draft):
        raise RenderError("the draft has no tracks with segments")
    width, height, fps = canvas_of(draft, output)
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = even(width * scale), even(height * scale)
    if default_fps and not (output or {}).get("fps") and not draft.get("m", {}).get("fps"):
        fps = default_fps
    total_ms = int(draft.get("d") or dr.end_ms(draft))
    if total_ms <= 0:
        raise RenderError("the draft has no duration")
    total_s = min(total_ms / 1000.0, MAX_RENDER_SECONDS)
    frames = max(round(total_s * fps), 1)
    quality = str((output or {}).get("quality") or "high")

    mix, _ = audio.mix_audio(draft, total_s, resolve)
    video_tracks, titles = _layers(draft, width, height)
    if not any(video_tracks):  # nothing visual at all: show the music instead
        visual = {"type": "visual", "style": "waveform", "hue": 210, "s": 0, "d": total_ms}
        video_tracks = [[Placed(visual, 0, total_ms, 0)]]
    has_visual = any(x.seg.get("type") == "visual" for items in video_tracks for x in items)
    levels = audio.levels(mix, frames, fps) if has_visual else np.zeros((0, audio.BARS), np.float32)
    compositor = Compositor(
        video_tracks,
        width=width,
        height=height,
        fps=fps,
        bg=hex_rgb(draft.get("m", {}).get("bg")),
        levels=levels,
        resolve=resolve,
    )

    def frame_at(t_ms: float) -> U8:
        img = compositor.frame(t_ms)
        active = [tt for tt in titles if tt.start <= t_ms < tt.end]
        if active:
            img = img.copy()
            for title in active:
                draw_title(img, title, t_ms)
        return img

    tmp = out_path.with_name(out_path.name + ".part")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _encode(
            tmp,
            frame_at,
            mix,
            frames=frames,
            size=(width, height, fps),
            options={"preset": preset, "crf": str(CRF.get(quality, CRF["high"]))},
            title=draft.get("m", {}).get("title"),
            progress=progress,
            cancelled=cancelled,
            slowdown=slowdown,
        )
        os.replace(tmp, out_path)
    finally:
        compositor.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return RenderResult(
        duration=round(frames / fps, 3),
        size=out_path.stat().st_size,
        width=width,
        height=height,
        fps=fps,
        seconds_taken=round(time.monotonic() - began, 3),
    )


def _encode(
    path: Path,
    frame_at: Callable[[float], U8],
    mix: FloatArray,
    *,
    frames: int,
    size: tuple[int, int, int],
    options: dict[str, str],
    title: Any,
    progress: Callable[[int], None] | None,
    cancelled: Callable[[], bool] | None,
    slowdown: float,
) -> None:
    """Encode ``frames`` frames and the ``mix`` to an MP4 (H.264 + AAC, faststart) at ``path``."""
    width, height, fps = size
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        if title:
            container.metadata["title"] = str(title)
        vs: Any = container.add_stream("libx264", rate=fps, options=options)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        aus: Any = container.add_stream("aac", rate=SAMPLE_RATE)
        aus.layout = "stereo"
        aus.bit_rate = AUDIO_BITRATE
        per_frame = SAMPLE_RATE / fps
        last_pct = -1
        for i in range(frames):
            if cancelled is not None and cancelled():
                raise RenderCancelled()
            vf = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame_at(i * 1000.0 / fps)), format="rgb24"
            )
            vf.pts = i
            for packet in vs.encode(vf):
                container.mux(packet)
            a0, a1 = round(i * per_frame), round((i + 1) * per_frame)
            if i == frames - 1:
                a1 = mix.shape[1]
            if a1 > a0:
                af = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(mix[:, a0:a1]), format="fltp", layout="stereo"
                )
                af.sample_rate = SAMPLE_RATE
                af.pts = a0
                for packet in aus.encode(af):
                    container.mux(packet)
            pct = 5 + int(90 * (i + 1) / frames)
            if progress is not None and pct != last_pct:
                progress(pct)
                last_pct = pct
            if slowdown > 0:
                time.sleep(slowdown / fps)
        for packet in vs.encode():
            container.mux(packet)
        for packet in aus.encode():
            container.mux(packet)
