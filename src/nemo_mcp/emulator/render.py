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

import colorsys
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO
from nemo_mcp.contract.media import media_kind
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.config import DEFAULT_HEIGHT, DEFAULT_WIDTH, RENDER_FPS, RENDER_PRESET
from nemo_mcp.emulator.media import SAMPLE_RATE, FloatArray, decode_audio

log = logging.getLogger(__name__)

U8 = np.ndarray[Any, np.dtype[np.uint8]]
Resolver = Callable[[dict[str, Any]], Path | None]

KEN_BURNS_SCALE: Final = 1.12
CONTAIN_MISMATCH: Final = 1.5  # aspect-ratio factor above which "cover" letterboxes instead
TITLE_FADE_MS: Final = 250
AUDIO_EDGE_FADE_MS: Final = 5
BARS: Final = 32
FFT_SIZE: Final = 2048
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


def _even(value: float) -> int:
    return max(round(value / 2.0) * 2, 2)


def _hex_rgb(value: Any, default: tuple[int, int, int] = (11, 11, 20)) -> tuple[int, int, int]:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
        except ValueError:
            return default
    return default


def _scale_rgb(img: U8, width: int, height: int) -> U8:
    """Resize an RGB array with swscale (much faster than Pillow at 1080p)."""
    if img.shape[1] == width and img.shape[0] == height:
        return img
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    out = frame.reformat(width=width, height=height, format="rgb24", interpolation="FAST_BILINEAR")
    result: Any = out.to_ndarray()
    return np.asarray(result, dtype=np.uint8)


def _blend(a: U8, b: U8, alpha: float) -> U8:
    """``a`` * (1 - alpha) + ``b`` * alpha, in integer arithmetic."""
    k = round(max(0.0, min(alpha, 1.0)) * 256)
    mixed = (a.astype(np.uint16) * (256 - k) + b.astype(np.uint16) * k) >> 8
    return mixed.astype(np.uint8)


# --- sources ------------------------------------------------------------------------------------
class Source:
    def frame(self, local_ms: float, dur_ms: float) -> U8:
        raise NotImplementedError

    def close(self) -> None:
        return None


class SolidSource(Source):
    def __init__(self, width: int, height: int, rgb: tuple[int, int, int]) -> None:
        self.img: U8 = np.empty((height, width, 3), np.uint8)
        self.img[:] = rgb

    def frame(self, local_ms: float, dur_ms: float) -> U8:
        return self.img


def _fit_image(img: Image.Image, width: int, height: int, fit: str, bg: tuple[int, int, int]) -> U8:
    """``img`` covering (or letterboxed into) ``width`` x ``height``."""
    img = img.convert("RGB")
    iw, ih = img.size
    mismatch = max(iw / ih, width / height) / min(iw / ih, width / height)
    cover = max(width / iw, height / ih)
    if fit != "contain" and mismatch <= CONTAIN_MISMATCH:
        nw, nh = max(math.ceil(iw * cover), width), max(math.ceil(ih * cover), height)
        scaled = img.resize((nw, nh), Image.Resampling.BILINEAR)
        x, y = (nw - width) // 2, (nh - height) // 2
        return np.asarray(scaled.crop((x, y, x + width, y + height)))
    # letterbox over a blurred, darkened cover
    small = img.resize((max(iw // 8, 1), max(ih // 8, 1)), Image.Resampling.BILINEAR)
    back = small.resize(
        (max(int(iw * cover), width), max(int(ih * cover), height)), Image.Resampling.BILINEAR
    )
    back = back.filter(ImageFilter.GaussianBlur(radius=max(width, height) // 60))
    bx, by = (back.width - width) // 2, (back.height - height) // 2
    canvas = back.crop((bx, by, bx + width, by + height))
    canvas = Image.blend(canvas, Image.new("RGB", canvas.size, bg), 0.45)
    contain = min(width / iw, height / ih)
    fg = img.resize(
        (max(int(iw * contain), 1), max(int(ih * contain), 1)), Image.Resampling.BILINEAR
    )
    canvas.paste(fg, ((width - fg.width) // 2, (height - fg.height) // 2))
    return np.asarray(canvas)


class ImageSource(Source):
    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        *,
        kenburns: bool,
        fit: str,
        bg: tuple[int, int, int],
        index: int,
    ) -> None:
        self.width, self.height = width, height
        self.kenburns = kenburns
        scale = KEN_BURNS_SCALE if kenburns else 1.0
        self.bw, self.bh = _even(width * scale), _even(height * scale)
        with Image.open(path) as img:
            self.base: U8 = np.ascontiguousarray(_fit_image(img, self.bw, self.bh, fit, bg))
        self.zoom_in = index % 2 == 0
        self.pan = (1 if index % 3 == 0 else -1, 1 if index % 4 < 2 else -1)
        self.static: U8 | None = None if kenburns else self.base

    def frame(self, local_ms: float, dur_ms: float) -> U8:
        if self.static is not None:
            return self.static
        p = max(0.0, min(local_ms / max(dur_ms, 1.0), 1.0))
        if not self.zoom_in:
            p = 1.0 - p
        zoom = 1.0 + (KEN_BURNS_SCALE - 1.0) * p  # 1 .. scale: how far we are zoomed in
        cw = min(_even(self.bw / zoom), self.bw)
        ch = min(_even(self.bh / zoom), self.bh)
        free_x, free_y = self.bw - cw, self.bh - ch
        x0 = int(free_x * (0.5 + 0.35 * self.pan[0] * (p - 0.5)))
        y0 = int(free_y * (0.5 + 0.35 * self.pan[1] * (p - 0.5)))
        x0 = max(0, min(x0, free_x))
        y0 = max(0, min(y0, free_y))
        return _scale_rgb(self.base[y0 : y0 + ch, x0 : x0 + cw], self.width, self.height)


class VideoSource(Source):
    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        *,
        fit: str,
        bg: tuple[int, int, int],
        in_ms: float,
    ) -> None:
        self.width, self.height, self.fit, self.bg = width, height, fit, bg
        self.container: Any = av.open(str(path))
        self.stream: Any = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.offset = in_ms / 1000.0
        if self.offset > 2.0 and self.stream.time_base is not None:
            with contextlib.suppress(Exception):
                self.container.seek(
                    int(max(self.offset - 1.0, 0) / self.stream.time_base), stream=self.stream
                )
        self.frames = self.container.decode(self.stream)
        self.pending: Any = None
        self.current_raw: Any = None
        self.current: U8 | None = None
        self.ended = False
        self.geometry: tuple[int, int, int, int] | None = None

    def _convert(self, raw: Any) -> U8:
        sw, sh = int(raw.width), int(raw.height)
        mismatch = max(sw / sh, self.width / self.height) / min(sw / sh, self.width / self.height)
        if self.fit != "contain" and mismatch <= CONTAIN_MISMATCH:
            scale = max(self.width / sw, self.height / sh)
        else:
            scale = min(self.width / sw, self.height / sh)
        fw, fh = _even(sw * scale), _even(sh * scale)
        img: U8 = raw.reformat(
            width=fw, height=fh, format="rgb24", interpolation="FAST_BILINEAR"
        ).to_ndarray()
        out: U8 = np.empty((self.height, self.width, 3), np.uint8)
        out[:] = self.bg
        # center img on the canvas, cropping whatever overflows
        sx, sy = max((fw - self.width) // 2, 0), max((fh - self.height) // 2, 0)
        dx, dy = max((self.width - fw) // 2, 0), max((self.height - fh) // 2, 0)
        w, h = min(fw, self.width), min(fh, self.height)
        out[dy : dy + h, dx : dx + w] = img[sy : sy + h, sx : sx + w]
        return out

    def frame(self, local_ms: float, dur_ms: float) -> U8:
        target = self.offset + local_ms / 1000.0
        while not self.ended:
            if self.pending is None:
                try:
                    self.pending = next(self.frames)
                except (StopIteration, av.error.EOFError):
                    self.ended = True
                    break
                except Exception as exc:  # a damaged file: hold the last good frame
                    log.info("video decode stopped: %s", exc)
                    self.ended = True
                    break
            t = self.pending.time
            if self.current_raw is None or t is None or t <= target + 1e-3:
                self.current_raw, self.current = self.pending, None
                self.pending = None
            else:
                break
        if self.current is None:
            if self.current_raw is None:
                blank: U8 = np.zeros((self.height, self.width, 3), np.uint8)
                self.current = blank
            else:
                self.current = self._convert(self.current_raw)
        return self.current

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()


class VisualSource(Source):
    """A generated background: a drifting gradient with bars (or a pulse) following the audio."""

    def __init__(
        self, width: int, height: int, *, hue: float, style: str, levels: FloatArray, fps: int
    ) -> None:
        self.width, self.height, self.style, self.levels, self.fps = (
            width,
            height,
            style,
            levels,
            fps,
        )
        h1 = (hue % 360) / 360.0
        c1 = np.array(colorsys.hsv_to_rgb(h1, 0.75, 0.85), np.float32) * 255
        c2 = np.array(colorsys.hsv_to_rgb((h1 + 0.17) % 1.0, 0.8, 0.35), np.float32) * 255
        xs = np.arange(2 * width, dtype=np.float32)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * xs / width)
        row = c1[None, :] * wave[:, None] + c2[None, :] * (1 - wave[:, None])
        shade = np.linspace(1.0, 0.55, height, dtype=np.float32)[:, None, None]
        self.band: U8 = (row[None, :, :] * shade).clip(0, 255).astype(np.uint8)
        self.bar_rgb = tuple(int(v) for v in (np.array([255, 255, 255]) * 0.6 + c1 * 0.4))

    def frame(self, local_ms: float, dur_ms: float) -> U8:
        t = local_ms / 1000.0
        shift = int(t * self.width / 10.0) % self.width
        img = self.band[:, shift : shift + self.width].copy()
        index = min(round(t * self.fps), len(self.levels) - 1) if len(self.levels) else -1
        levels = self.levels[index] if index >= 0 else np.zeros(BARS, np.float32)
        if self.style == "waveform":
            slot = self.width / (BARS + 2)
            base_y = int(self.height * 0.85)
            for b in range(BARS):
                level = float(levels[b])
                bh = int(self.height * 0.05 + self.height * 0.5 * level)
                x0 = int((b + 1) * slot + slot * 0.15)
                x1 = int((b + 2) * slot - slot * 0.15)
                img[max(base_y - bh, 0) : base_y, x0:x1] = self.bar_rgb
        else:
            level = float(levels.mean()) if len(levels) else 0.0
            side = int(min(self.width, self.height) * (0.12 + 0.25 * level))
            cx, cy = self.width // 2, self.height // 2
            img[cy - side // 2 : cy + side // 2, cx - side // 2 : cx + side // 2] = self.bar_rgb
        return img


class PlaceholderSource(Source):
    def __init__(self, width: int, height: int, label: str) -> None:
        img = Image.new("RGB", (width, height), (38, 38, 52))
        draw = ImageDraw.Draw(img)
        font = ImageFont.load_default(size=max(height // 24, 12))
        text = f"{label}\n(media not available in the emulator)"
        box = draw.multiline_textbbox((0, 0), text, font=font, align="center")
        pos = ((width - (box[2] - box[0])) // 2, (height - (box[3] - box[1])) // 2)
        draw.multiline_text(pos, text, font=font, fill=(210, 210, 220), align="center")
        self.img: U8 = np.asarray(img)

    def frame(self, local_ms: float, dur_ms: float) -> U8:
        return self.img


# --- titles -------------------------------------------------------------------------------------
@dataclass
class Title:
    start: int
    end: int
    x: int
    y: int
    rgb: U8
    alpha: np.ndarray[Any, np.dtype[np.uint16]]


def _make_title(seg: dict[str, Any], width: int, height: int) -> Title | None:
    text = str(seg.get("text") or "").strip()
    if not text:
        return None
    size = max(int(float(seg.get("size") or dr.TITLE_SIZE) * height / 1080), 12)
    while True:
        font = ImageFont.load_default(size=size)
        stroke = max(size // 16, 2)
        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        box = probe.multiline_textbbox((0, 0), text, font=font, stroke_width=stroke, align="center")
        tw, th = box[2] - box[0], box[3] - box[1]
        if tw <= width * 0.9 or size <= 14:
            break
        size = int(size * 0.85)
    pad = stroke * 2
    img = Image.new("RGBA", (int(tw + 2 * pad), int(th + 2 * pad)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    origin = (pad - box[0], pad - box[1])
    draw.multiline_text(
        (origin[0] + stroke, origin[1] + stroke),
        text,
        font=font,
        fill=(0, 0, 0, 140),
        align="center",
    )
    draw.multiline_text(
        origin,
        text,
        font=font,
        fill=(*_hex_rgb(seg.get("color"), (255, 255, 255)), 255),
        stroke_width=stroke,
        stroke_fill=(0, 0, 0, 255),
        align="center",
    )
    arr = np.asarray(img)
    iw, ih = img.size
    iw, ih = min(iw, width), min(ih, height)
    x = (width - iw) // 2
    pos = str(seg.get("pos") or "center")
    if pos == "top":
        y = int(height * 0.08)
    elif pos == "bottom":
        y = int(height * 0.92) - ih
    else:
        y = (height - ih) // 2
    start = int(seg.get("s", 0))
    return Title(
        start=start,
        end=start + int(seg.get("d", 0)),
        x=x,
        y=max(y, 0),
        rgb=np.ascontiguousarray(arr[:ih, :iw, :3]),
        alpha=arr[:ih, :iw, 3].astype(np.uint16)[..., None],
    )


def _draw_title(frame: U8, title: Title, t_ms: float) -> None:
    fade = min(
        (t_ms - title.start) / TITLE_FADE_MS,
        (title.end - t_ms) / TITLE_FADE_MS,
        1.0,
    )
    k = int(max(fade, 0.0) * 256)
    if k <= 0:
        return
    h, w = title.rgb.shape[:2]
    region = frame[title.y : title.y + h, title.x : title.x + w]
    a = (title.alpha * k) >> 8
    mixed = (region.astype(np.uint16) * (255 - a) + title.rgb.astype(np.uint16) * a) // 255
    region[:] = mixed.astype(np.uint8)


# --- audio --------------------------------------------------------------------------------------
def _mix_audio(draft: dict[str, Any], total_s: float, resolve: Resolver) -> tuple[FloatArray, bool]:
    n = max(round(total_s * SAMPLE_RATE), 1)
    mix: FloatArray = np.zeros((2, n), np.float32)
    any_audio = False
    for trk in draft.get("t", []):
        if not isinstance(trk, dict):
            continue
        track_gain = float(trk.get("vol", 100)) / 100.0
        for seg in trk.get("sg", []):
            if not isinstance(seg, dict):
                continue
            is_audio = trk.get("tt") == TRACK_AUDIO
            is_clip = trk.get("tt") == TRACK_VIDEO and seg.get("type") == "video"
            vol = float(seg.get("vol", 100 if is_audio else 0))
            if not (is_audio or is_clip) or vol <= 0:
                continue
            path = resolve(seg)
            if path is None:
                continue
            start = round(float(seg.get("s", 0)) / 1000 * SAMPLE_RATE)
            dur = float(seg.get("d", 0)) / 1000
            if start >= n or dur <= 0:
                continue
            samples = decode_audio(path, float(seg.get("in", 0)) / 1000, dur)
            length = min(samples.shape[1], n - start)
            if length <= 0:
                continue
            piece = samples[:, :length] * np.float32(vol / 100.0 * track_gain)
            edge = int(AUDIO_EDGE_FADE_MS / 1000 * SAMPLE_RATE)
            fade_in = max(int(float(seg.get("fi", 0)) / 1000 * SAMPLE_RATE), edge)
            fade_out = max(int(float(seg.get("fo", 0)) / 1000 * SAMPLE_RATE), edge)
            fade_in, fade_out = min(fade_in, length), min(fade_out, length)
            piece[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)
            piece[:, length - fade_out :] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)
            mix[:, start : start + length] += piece
            any_audio = True
    np.clip(mix, -1.0, 1.0, out=mix)
    return mix, any_audio


def _levels(mix: FloatArray, frames: int, fps: int) -> FloatArray:
    """Per video frame, BARS band levels in 0..1 (log-spaced bands of an FFT)."""
    mono = mix.mean(axis=0)
    window = np.hanning(FFT_SIZE).astype(np.float32)
    edges = np.unique(np.geomspace(2, FFT_SIZE // 2, BARS + 1).astype(int))
    out = np.zeros((frames, BARS), np.float32)
    for i in range(frames):
        center = int(i / fps * SAMPLE_RATE)
        lo = max(center - FFT_SIZE // 2, 0)
        chunk = mono[lo : lo + FFT_SIZE]
        if len(chunk) < FFT_SIZE:
            chunk = np.pad(chunk, (0, FFT_SIZE - len(chunk)))
        spectrum = np.abs(np.fft.rfft(chunk * window))
        bands = [spectrum[edges[b] : edges[b + 1]].mean() for b in range(len(edges) - 1)]
        vals = np.log1p(np.array(bands, np.float32)) / 4.0
        out[i, : len(vals)] = np.clip(vals, 0.0, 1.0)
    # smooth over time so the bars do not flicker
    for i in range(1, frames):
        out[i] = np.maximum(out[i], out[i - 1] * 0.82)
    return out


# --- the render ---------------------------------------------------------------------------------
@dataclass
class _Seg:
    seg: dict[str, Any]
    start: int
    end: int
    index: int


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
    width, height = _even(min(max(width, 16), MAX_SIDE)), _even(min(max(height, 16), MAX_SIDE))
    return width, height, max(1, min(fps, 60))


def render_draft(
    draft: dict[str, Any],
    out_path: Path,
    *,
    resolve: Resolver,
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
        width, height = _even(width * scale), _even(height * scale)
    if default_fps and not (output or {}).get("fps") and not draft.get("m", {}).get("fps"):
        fps = default_fps
    total_ms = int(draft.get("d") or dr.end_ms(draft))
    if total_ms <= 0:
        raise RenderError("the draft has no duration")
    total_s = min(total_ms / 1000.0, MAX_RENDER_SECONDS)
    frames = max(round(total_s * fps), 1)
    bg = _hex_rgb(draft.get("m", {}).get("bg"))
    quality = str((output or {}).get("quality") or "high")
    crf = CRF.get(quality, CRF["high"])

    mix, _ = _mix_audio(draft, total_s, resolve)
    video_tracks: list[list[_Seg]] = []
    titles: list[Title] = []
    has_visual = False
    for trk in draft.get("t", []):
        if not isinstance(trk, dict):
            continue
        segs = [s for s in trk.get("sg", []) if isinstance(s, dict)]
        if trk.get("tt") == TRACK_TEXT:
            for seg in segs:
                title = _make_title(seg, width, height)
                if title is not None:
                    titles.append(title)
        elif trk.get("tt") == TRACK_VIDEO:
            items = sorted(
                (
                    _Seg(s, int(s.get("s", 0)), int(s.get("s", 0)) + int(s.get("d", 0)), i)
                    for i, s in enumerate(segs)
                ),
                key=lambda x: x.start,
            )
            video_tracks.append(items)
            has_visual = has_visual or any(x.seg.get("type") == "visual" for x in items)
    if not any(video_tracks):  # nothing visual at all: show the music instead
        visual = {"type": "visual", "style": "waveform", "hue": 210, "s": 0, "d": total_ms}
        video_tracks = [[_Seg(visual, 0, total_ms, 0)]]
        has_visual = True
    levels = _levels(mix, frames, fps) if has_visual else np.zeros((0, BARS), np.float32)

    sources: dict[int, Source] = {}
    background = SolidSource(width, height, bg)

    def source_for(item: _Seg) -> Source:
        key = id(item.seg)
        if key in sources:
            return sources[key]
        seg = item.seg
        kind = seg.get("type")
        src: Source
        try:
            if kind == "color":
                src = SolidSource(width, height, _hex_rgb(seg.get("color"), bg))
            elif kind == "visual":
                src = VisualSource(
                    width,
                    height,
                    hue=float(seg.get("hue", 210)),
                    style=str(seg.get("style", "gradient")),
                    levels=levels,
                    fps=fps,
                )
            else:
                path = resolve(seg)
                label = str(seg.get("name") or seg.get("src") or kind or "media")
                if path is None:
                    src = PlaceholderSource(width, height, label)
                elif kind == "image" or media_kind(path.suffix) == "image":
                    src = ImageSource(
                        path,
                        width,
                        height,
                        kenburns=seg.get("fx") == "kenburns",
                        fit=str(seg.get("fit", "cover")),
                        bg=bg,
                        index=item.index,
                    )
                else:
                    src = VideoSource(
                        path,
                        width,
                        height,
                        fit=str(seg.get("fit", "cover")),
                        bg=bg,
                        in_ms=float(seg.get("in", 0)),
                    )
        except Exception as exc:
            log.info("cannot draw segment %s: %s", seg.get("id"), exc)
            src = PlaceholderSource(width, height, str(seg.get("name") or "media"))
        sources[key] = src
        return src

    last_frame: dict[int, tuple[int, U8]] = {}  # track index -> (segment index, last frame)

    def compose(t_ms: float) -> U8:
        for ti in range(len(video_tracks) - 1, -1, -1):
            items = video_tracks[ti]
            for pos, item in enumerate(items):
                if not (item.start <= t_ms < item.end):
                    continue
                local = t_ms - item.start
                img = source_for(item).frame(local, item.end - item.start)
                transition = item.seg.get("tr")
                trd = float(item.seg.get("trd") or 0)
                if transition in ("crossfade", "fade") and trd > 0 and local < trd:
                    alpha = local / trd
                    prev = last_frame.get(ti)
                    if transition == "crossfade" and prev is not None and prev[0] == pos - 1:
                        img = _blend(prev[1], img, alpha)
                    else:
                        img = _blend(background.img, img, alpha)
                last_frame[ti] = (pos, img)
                # free sources of segments that are over
                for done in items[:pos]:
                    old = sources.pop(id(done.seg), None)
                    if old is not None:
                        old.close()
                return img
        return background.img

    tmp = out_path.with_name(out_path.name + ".part")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            title_meta = draft.get("m", {}).get("title")
            if title_meta:
                container.metadata["title"] = str(title_meta)
            vs: Any = container.add_stream(
                "libx264", rate=fps, options={"preset": preset, "crf": str(crf)}
            )
            vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
            aus: Any = container.add_stream("aac", rate=SAMPLE_RATE)
            aus.layout = "stereo"
            aus.bit_rate = AUDIO_BITRATE
            per_frame = SAMPLE_RATE / fps
            last_pct = -1
            for i in range(frames):
                if cancelled is not None and cancelled():
                    raise RenderCancelled()
                t_ms = i * 1000.0 / fps
                img = compose(t_ms)
                if titles:
                    active = [tt for tt in titles if tt.start <= t_ms < tt.end]
                    if active:
                        img = img.copy()
                        for title in active:
                            _draw_title(img, title, t_ms)
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
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
        os.replace(tmp, out_path)
    finally:
        for src in sources.values():
            src.close()
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
