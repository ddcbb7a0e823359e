"""Test videos: an MP4 written from RGB frames made in the test."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def write_video(
    path: Path, frames: Iterable[np.ndarray], fps: int, *, keyframe_every: int | None = None
) -> Path:
    """Encode ``frames`` (RGB arrays of one size, drawn as they are written) as H.264 at
    ``fps``, with a keyframe at most every ``keyframe_every`` frames if given."""
    rest = iter(frames)
    first = next(rest)
    height, width = first.shape[:2]
    options = {"g": str(keyframe_every)} if keyframe_every is not None else {}
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, img in enumerate(itertools.chain([first], rest)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
