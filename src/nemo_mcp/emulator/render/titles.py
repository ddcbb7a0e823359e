"""Titles (text tracks): drawn once with Pillow, then blended into each frame with a fade."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.render.pixels import U8, hex_rgb

TITLE_FADE_MS: Final = 250


@dataclass
class Title:
    start: int
    end: int
    x: int
    y: int
    rgb: U8
    alpha: np.ndarray[Any, np.dtype[np.uint16]]


def make_title(seg: dict[str, Any], width: int, height: int) -> Title | None:
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
        fill=(*hex_rgb(seg.get("color"), (255, 255, 255)), 255),
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


def draw_title(frame: U8, title: Title, t_ms: float) -> None:
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
