"""What a video track shows, frame by frame: solid colours, images (cover, letterbox, Ken Burns),
decoded video clips, generated visuals that follow the music, and placeholder cards."""

from __future__ import annotations

import colorsys
import contextlib
import logging
import math
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from nemo_mcp.emulator.render.audio import BARS
from nemo_mcp.emulator.render.media import FloatArray
from nemo_mcp.emulator.render.pixels import U8, covers, even, scale_rgb

log = logging.getLogger(__name__)

KEN_BURNS_SCALE: Final = 1.12


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
    cover = max(width / iw, height / ih)
    if covers(iw, ih, width, height, fit):
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
        self.bw, self.bh = even(width * scale), even(height * scale)
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
        cw = min(even(self.bw / zoom), self.bw)
        ch = min(even(self.bh / zoom), self.bh)
        free_x, free_y = self.bw - cw, self.bh - ch
        x0 = int(free_x * (0.5 + 0.35 * self.pan[0] * (p - 0.5)))
        y0 = int(free_y * (0.5 + 0.35 * self.pan[1] * (p - 0.5)))
        x0 = max(0, min(x0, free_x))
        y0 = max(0, min(y0, free_y))
        return scale_rgb(self.base[y0 : y0 + ch, x0 : x0 + cw], self.width, self.height)


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

    def _convert(self, raw: Any) -> U8:
        sw, sh = int(raw.width), int(raw.height)
        if covers(sw, sh, self.width, self.height, self.fit):
            scale = max(self.width / sw, self.height / sh)
        else:
            scale = min(self.width / sw, self.height / sh)
        fw, fh = even(sw * scale), even(sh * scale)
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
