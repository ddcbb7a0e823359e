"""The poster frame: a picture that shows the video, not its fade from black."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nemo_mcp.emulator.render import synth
from nemo_mcp.media import frames
from support.media import write_video

FPS = 10
Frame = Callable[[float], np.ndarray]  # (fraction of the video) -> an RGB frame
W, H = 160, 96


def _video(path: Path, seconds: float, frame: Frame) -> Path:
    """An MP4 whose frame at each moment ``frame(t / duration)`` draws (one keyframe only,
    as a fast preset gives: a look far in must decode its way there)."""
    n = round(seconds * FPS)
    return write_video(path, (frame(i / n) for i in range(n)), FPS, keyframe_every=n + 1)


def _flat(value: int) -> np.ndarray:
    return np.full((H, W, 3), value, dtype=np.uint8)


def _picture(brightness: float) -> np.ndarray:
    """Stripes: plenty of contrast, mean luma about ``brightness``."""
    img = np.zeros((H, W, 3), dtype=np.uint8)
    img[:, ::2] = min(255, int(brightness * 2))
    return img


def _stats(jpeg: bytes) -> tuple[float, float]:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    return frames.frame_interest(image)


def test_a_fade_from_black_is_skipped(tmp_path: Path) -> None:
    # black for the first 40 %, then the picture: a fifth of the way in is still black
    video = _video(tmp_path / "fade.mp4", 5.0, lambda f: _flat(0) if f < 0.4 else _picture(90))
    poster = frames.poster_frame(video)
    assert poster is not None
    luma, contrast = _stats(poster)
    assert luma > 60 and contrast > 40, (luma, contrast)


def test_about_a_fifth_of_the_way_in(tmp_path: Path) -> None:
    # brightness grows with time: the frame picked tells where it came from
    video = _video(tmp_path / "ramp.mp4", 5.0, lambda f: _picture(40 + 200 * f))
    poster = frames.poster_frame(video)
    assert poster is not None
    luma, _ = _stats(poster)
    assert luma == pytest.approx(40 + 200 * 0.2, abs=12)  # the frame at 20 %, not 35 % (110)


def test_flat_frames_are_skipped_too(tmp_path: Path) -> None:
    # a grey card (no contrast) until 60 %, then the picture
    video = _video(tmp_path / "card.mp4", 5.0, lambda f: _flat(128) if f < 0.6 else _picture(80))
    image = frames.representative_frame(video)
    assert image is not None and frames.is_telling(image)


def test_a_video_with_nothing_to_show_still_gets_a_poster(tmp_path: Path) -> None:
    video = _video(tmp_path / "black.mp4", 2.0, lambda f: _flat(0))
    poster = frames.poster_frame(video)
    assert poster is not None and _stats(poster)[0] < 5


def test_the_poster_is_small(tmp_path: Path) -> None:
    clip = synth.make_clip(tmp_path / "clip.mp4", 2.0, size=(1280, 720), audio=False)
    poster = frames.poster_frame(clip)
    assert poster is not None and len(poster) < 100_000
    assert Image.open(io.BytesIO(poster)).size == (480, 270)


def test_no_poster_for_what_is_not_a_video(tmp_path: Path) -> None:
    song = synth.make_song(tmp_path / "song.mp3", 2.0)
    assert frames.poster_frame(song) is None
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100)
    assert frames.poster_frame(junk) is None
