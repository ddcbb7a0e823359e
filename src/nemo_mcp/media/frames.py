"""Pictures of a video: a representative frame (never a black or flat one), and the poster a
result shows (a small JPEG)."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemo_mcp import constants

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

# Frames worth showing: not (nearly) black, not one flat colour (fades, blank title cards).
MIN_POSTER_LUMA = 24.0  # mean luma (0-255) below this is a black frame
MIN_POSTER_CONTRAST = 10.0  # luma standard deviation below this is a flat frame
POSTER_AT = (0.2, 0.35, 0.5, 0.65, 0.8, 0.1)  # where to look, as fractions of the duration
MAX_FRAMES_DECODED = 900  # per look: frames decoded forward from the keyframe before it


def frame_at(container: Any, stream: Any, seconds: float) -> Image.Image | None:
    """The first frame shown at or after ``seconds`` (decoded from the keyframe before it)."""
    container.seek(max(0, int(seconds * 1_000_000)), any_frame=False, backward=True)
    last = None
    for n, frame in enumerate(container.decode(stream)):
        last = frame
        if frame.time is None or frame.time + 1e-3 >= seconds or n >= MAX_FRAMES_DECODED:
            break
    return last.to_image() if last is not None else None


def frame_interest(image: Image.Image) -> tuple[float, float]:
    """(mean luma, luma standard deviation) of a picture."""
    from PIL import ImageStat

    stat = ImageStat.Stat(image.convert("L"))
    return float(stat.mean[0]), float(stat.stddev[0])


def is_telling(image: Image.Image) -> bool:
    """Shows something: neither nearly black nor one flat colour."""
    luma, contrast = frame_interest(image)
    return luma >= MIN_POSTER_LUMA and contrast >= MIN_POSTER_CONTRAST


def representative_frame(path: Path | str) -> Image.Image | None:
    """A frame that shows what the video is: about a fifth of the way in, or the first later
    (then earlier) look that is neither black nor flat; else the liveliest one seen. None
    without PyAV or for an undecodable file. ``path`` may be an http(s) URL (read over the
    network, with seeks as range requests: hosted mode has no file)."""
    try:
        import av
    except ImportError:
        return None
    seen: list[Image.Image] = []
    try:
        remote = str(path).startswith(("http://", "https://"))
        # a URL is read with a bound on each network wait (microseconds), never forever
        options = {"rw_timeout": "10000000"} if remote else {}
        with av.open(str(path), options=options) as container:
            stream = next(iter(container.streams.video), None)
            if stream is None:
                return None
            duration = float(container.duration or 0) / 1_000_000
            for fraction in POSTER_AT if duration > 0 else (0.0,):
                image = frame_at(container, stream, duration * fraction)
                if image is None:
                    continue
                if is_telling(image):
                    return image
                seen.append(image)
    except Exception as err:  # PyAV raises many error types for undecodable input
        log.debug("no representative frame: %s", type(err).__name__)
    return max(seen, key=lambda im: frame_interest(im)[1]) if seen else None


def poster_frame(path: Path | str, *, max_width: int = 480) -> bytes | None:
    """A small JPEG of a representative frame (MCP image content), or None without PyAV."""
    image = representative_frame(path)
    if image is None:
        return None
    if image.width > max_width:
        ratio = max_width / image.width
        image = image.resize((max_width, max(1, int(image.height * ratio))))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=75)
    data = buf.getvalue()
    return data if len(data) <= constants.MAX_POSTER_BYTES else None
