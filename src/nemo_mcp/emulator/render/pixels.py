"""Pixel helpers shared by the render's layers: RGB arrays, colours, scaling, blending."""

from __future__ import annotations

from typing import Any, Final

import av
import numpy as np

U8 = np.ndarray[Any, np.dtype[np.uint8]]

CONTAIN_MISMATCH: Final = 1.5  # aspect-ratio factor above which "cover" letterboxes instead


def even(value: float) -> int:
    return max(round(value / 2.0) * 2, 2)


def hex_rgb(value: Any, default: tuple[int, int, int] = (11, 11, 20)) -> tuple[int, int, int]:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
        except ValueError:
            return default
    return default


def scale_rgb(img: U8, width: int, height: int) -> U8:
    """Resize an RGB array with swscale (much faster than Pillow at 1080p)."""
    if img.shape[1] == width and img.shape[0] == height:
        return img
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    out = frame.reformat(width=width, height=height, format="rgb24", interpolation="FAST_BILINEAR")
    result: Any = out.to_ndarray()
    return np.asarray(result, dtype=np.uint8)


def blend(a: U8, b: U8, alpha: float) -> U8:
    """``a`` * (1 - alpha) + ``b`` * alpha, in integer arithmetic."""
    k = round(max(0.0, min(alpha, 1.0)) * 256)
    mixed = (a.astype(np.uint16) * (256 - k) + b.astype(np.uint16) * k) >> 8
    return mixed.astype(np.uint8)


def covers(src_w: int, src_h: int, width: int, height: int, fit: str) -> bool:
    """Whether a ``src_w`` x ``src_h`` picture is scaled to cover the canvas (cropping), rather
    than letterboxed: unless ``fit`` is "contain" or the aspect ratios differ a lot."""
    a, b = src_w / src_h, width / height
    return fit != "contain" and max(a, b) / min(a, b) <= CONTAIN_MISMATCH
