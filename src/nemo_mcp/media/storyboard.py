"""The storyboard: a contact sheet of frames taken evenly across a video, each with its time, as
one small PNG (an MCP image block, a resource, and the strip the app shows)."""

from __future__ import annotations

import io
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from nemo_mcp.media.frames import frame_at

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

MAX_STORYBOARD_BYTES = 300 * 1024  # what a result may carry; a bigger sheet is made smaller
TILE_SIDE = 240  # the longer side of one frame on the sheet, in pixels
GAP = 8  # between tiles and around the sheet
CAPTION = 22  # the band under a tile that holds its time
BACKGROUND = (24, 24, 28)
CAPTION_COLOUR = (236, 236, 240)
# a video read over the network (hosted mode): each wait bounded, and the whole sheet too
NETWORK_WAIT_US = 10_000_000  # PyAV's rw_timeout: one read or seek, in microseconds
NETWORK_BUDGET_S = 30.0  # frames not reached by then are left off the sheet


@dataclass(frozen=True)
class Storyboard:
    """A contact sheet: the PNG, the times of its frames (seconds) and its size in pixels."""

    png: bytes
    times: list[float]
    width: int
    height: int
    columns: int


def frame_count(duration: float) -> int:
    """How many frames to show: 6 for a short clip, 8 up to a minute, 12 beyond."""
    if duration < 15:
        return 6
    return 8 if duration < 60 else 12


def columns_for(count: int, portrait: bool) -> int:
    """Columns of the sheet: tall videos take more per row (their tiles are narrow)."""
    if portrait:
        return count if count <= 8 else 6
    return 3 if count in (6, 9) else 4


def sample_times(duration: float, count: int) -> list[float]:
    """The middle of each of ``count`` equal parts of the video (never its black first frame)."""
    return [round(duration * (i + 0.5) / count, 2) for i in range(count)]


def clock(seconds: float, duration: float) -> str:
    """``0:07``, or ``0:02.5`` in a video shorter than a minute (where tenths tell tiles apart)."""
    minutes, rest = divmod(seconds, 60)
    if duration < 60:
        return f"{int(minutes)}:{rest:04.1f}"
    return f"{int(minutes)}:{int(rest):02d}"


def _tile_size(width: int, height: int, side: int) -> tuple[int, int]:
    if width >= height:
        return side, max(1, round(side * height / width))
    return max(1, round(side * width / height)), side


def _sheet(
    images: list[Image.Image], times: list[float], duration: float, side: int, columns: int
) -> Image.Image:
    from PIL import Image, ImageDraw, ImageFont

    tw, th = _tile_size(images[0].width, images[0].height, side)
    rows = -(-len(images) // columns)
    sheet = Image.new(
        "RGB", (GAP + columns * (tw + GAP), GAP + rows * (th + CAPTION + GAP)), BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for n, (image, at) in enumerate(zip(images, times, strict=True)):
        x = GAP + (n % columns) * (tw + GAP)
        y = GAP + (n // columns) * (th + CAPTION + GAP)
        sheet.paste(image.convert("RGB").resize((tw, th), Image.Resampling.LANCZOS), (x, y))
        draw.text((x + 2, y + th + 3), clock(at, duration), fill=CAPTION_COLOUR, font=font)
    return sheet


def _png(sheet: Image.Image) -> bytes:
    """The sheet as PNG: full colour if it fits the budget, else with an adaptive palette."""
    from PIL import Image

    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    if buf.tell() <= MAX_STORYBOARD_BYTES:
        return buf.getvalue()
    palette = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()  # dithered: no bands across skies and gradients
    sheet.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(
        buf, format="PNG", optimize=True
    )
    return buf.getvalue()


def is_url(source: Path | str) -> bool:
    return str(source).startswith(("http://", "https://"))


def make_storyboard(source: Path | str, count: int | None = None) -> Storyboard | None:
    """The contact sheet of a video (``count`` frames, by default from its length), within
    :data:`MAX_STORYBOARD_BYTES`; None without PyAV and Pillow, or for a file with no picture.
    ``source`` may be an http(s) URL (hosted mode has no file): PyAV reads it with range
    requests, each wait bounded by :data:`NETWORK_WAIT_US` and the whole sheet by
    :data:`NETWORK_BUDGET_S` (frames not reached in time are left off)."""
    try:
        import av
    except ImportError:
        return None
    remote = is_url(source)
    options = {"rw_timeout": str(NETWORK_WAIT_US)} if remote else {}
    deadline = time.monotonic() + NETWORK_BUDGET_S
    shots: list[tuple[float, Image.Image | None]] = []
    try:
        with av.open(str(source), options=options) as container:
            stream = next(iter(container.streams.video), None)
            if stream is None:
                return None
            duration = float(container.duration or 0) / 1_000_000
            count = count or frame_count(duration)
            times = sample_times(duration, count) if duration > 0 else [0.0]
            for t in times:
                if remote and time.monotonic() > deadline:
                    log.info("storyboard: %d of %d frames read in time", len(shots), count)
                    break
                shots.append((t, frame_at(container, stream, t)))
    except Exception as err:  # PyAV raises many error types for undecodable input
        log.debug("no storyboard: %s", type(err).__name__)
        return None
    kept = [(t, image) for t, image in shots if image is not None]
    if not kept:
        return None
    times, images = [t for t, _ in kept], [image for _, image in kept]
    columns = min(len(images), columns_for(len(images), images[0].height > images[0].width))
    for side in (TILE_SIDE, 200, 160, 120):
        sheet = _sheet(images, times, duration, side, columns)
        png = _png(sheet)
        if len(png) <= MAX_STORYBOARD_BYTES:
            return Storyboard(png, times, sheet.width, sheet.height, columns)
    return None


@lru_cache(maxsize=16)
def _cached(path: str, _size: int, _mtime_ns: int) -> Storyboard | None:
    return make_storyboard(Path(path))


_BY_URL: OrderedDict[str, Storyboard] = OrderedDict()
URL_CACHE_SIZE = 16


def _from_url(url: str) -> Storyboard | None:
    """A render's URL names one video for good: its sheet is made once (a failure is not
    remembered: the next ask tries again)."""
    board = _BY_URL.get(url)
    if board is not None:
        _BY_URL.move_to_end(url)
        return board
    board = make_storyboard(url)
    if board is not None:
        _BY_URL[url] = board
        while len(_BY_URL) > URL_CACHE_SIZE:
            _BY_URL.popitem(last=False)
    return board


def storyboard_of(source: Path | str) -> Storyboard | None:
    """:func:`make_storyboard`, made once per file version or per render URL (an export
    result, then the app and the resource, ask for the same sheet)."""
    if is_url(source):
        return _from_url(str(source))
    path = Path(source)
    try:
        stat = path.stat()
    except OSError:
        return None
    return _cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
