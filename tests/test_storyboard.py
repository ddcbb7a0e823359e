"""The storyboard: frames taken evenly across a video, each with its time, in one PNG that stays
under its size budget whatever the video looks like."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nemo_mcp.media import storyboard as sb
from nemo_mcp.media.frames import frame_interest
from support.media import write_video

FPS = 10


def _video(path: Path, seconds: float, width: int, height: int, noise: bool = False) -> Path:
    """An MP4 whose colour walks through the hue circle (each moment looks different); with
    ``noise``, random pixels (the worst case for a PNG's size)."""
    rng = np.random.default_rng(7)
    n = round(seconds * FPS)

    def frames() -> Iterator[np.ndarray]:
        for i in range(n):
            if noise:
                yield rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                continue
            img = np.zeros((height, width, 3), dtype=np.uint8)
            img[..., i * 3 % 3] = 60 + (i * 190 // n)
            img[: height // 2, : width // 3] = 255  # a bright block: never flat
            yield img

    return write_video(path, frames(), FPS)


@pytest.mark.parametrize(("seconds", "count"), [(6, 6), (14.9, 6), (20, 8), (75, 12)])
def test_frame_count_follows_the_length(seconds: float, count: int) -> None:
    assert sb.frame_count(seconds) == count
    times = sb.sample_times(seconds, count)
    assert len(times) == count and 0 < times[0] < times[-1] < seconds


def test_times_read_as_a_clock() -> None:
    assert sb.clock(2.5, 10) == "0:02.5"
    assert sb.clock(75.4, 200) == "1:15"


def test_a_landscape_sheet(tmp_path: Path) -> None:
    board = sb.make_storyboard(_video(tmp_path / "v.mp4", 6.0, 320, 180))
    assert board is not None
    assert board.times == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5] and board.columns == 3
    image = Image.open(io.BytesIO(board.png))
    assert image.format == "PNG" and image.size == (board.width, board.height)
    assert board.width > board.height  # 3 x 2 wide tiles
    # each tile shows its frame: six different pictures, not one repeated
    tw, th = sb._tile_size(320, 180, sb.TILE_SIDE)
    tiles = [
        image.convert("RGB").crop((x, y, x + tw, y + th))
        for y in (sb.GAP, sb.GAP + th + sb.CAPTION + sb.GAP)
        for x in (sb.GAP + c * (tw + sb.GAP) for c in range(3))
    ]
    means = {tuple(round(v) for v in np.asarray(t).reshape(-1, 3).mean(axis=0)) for t in tiles}
    assert len(means) == 6
    assert all(frame_interest(t)[1] > 10 for t in tiles)


def test_a_portrait_sheet_puts_more_frames_in_a_row(tmp_path: Path) -> None:
    board = sb.make_storyboard(_video(tmp_path / "v.mp4", 20.0, 180, 320))
    assert board is not None and len(board.times) == 8
    assert board.columns == 8 and board.width > board.height


def test_the_worst_case_stays_under_the_budget(tmp_path: Path) -> None:
    board = sb.make_storyboard(_video(tmp_path / "noise.mp4", 3.0, 640, 360, noise=True), 12)
    assert board is not None and len(board.times) == 12
    assert len(board.png) <= sb.MAX_STORYBOARD_BYTES


def test_no_picture_no_storyboard(tmp_path: Path) -> None:
    (tmp_path / "song.mp4").write_bytes(b"not a video at all")
    assert sb.make_storyboard(tmp_path / "song.mp4") is None
    assert sb.storyboard_of(tmp_path / "missing.mp4") is None


def test_made_once_per_file_version(tmp_path: Path) -> None:
    video = _video(tmp_path / "v.mp4", 6.0, 160, 90)
    assert sb.storyboard_of(video) is sb.storyboard_of(video)
