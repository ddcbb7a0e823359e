"""Recognise media files by their first bytes, and probe them with PyAV when it is installed.

Extension checks alone let a renamed text file through; ``sniff`` reads the container
signature so ``notes.txt`` renamed to ``song.mp4`` is refused before anything is uploaded.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemo_mcp import constants
from nemo_mcp.contract.media import MediaKind, media_kind

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

# (offset, signature, container family)
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "isobmff"),  # mp4, mov, m4a
    (0, b"\x1a\x45\xdf\xa3", "matroska"),  # mkv, webm
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"ID3", "mp3"),
    (0, b"\xff\xfb", "mp3"),
    (0, b"\xff\xf3", "mp3"),
    (0, b"\xff\xf2", "mp3"),
    (0, b"\xff\xf1", "aac"),  # ADTS
    (0, b"\xff\xf9", "aac"),
)

# which sniffed families an extension may legitimately hold
_FAMILIES: dict[str, frozenset[str]] = {
    "mp4": frozenset({"isobmff"}),
    "mov": frozenset({"isobmff", "quicktime"}),
    "m4a": frozenset({"isobmff"}),
    "mkv": frozenset({"matroska"}),
    "webm": frozenset({"matroska"}),
    "avi": frozenset({"riff-avi"}),
    "wav": frozenset({"riff-wave"}),
    "webp": frozenset({"riff-webp"}),
    "jpg": frozenset({"jpeg"}),
    "jpeg": frozenset({"jpeg"}),
    "png": frozenset({"png"}),
    "gif": frozenset({"gif"}),
    "mp3": frozenset({"mp3"}),
    "aac": frozenset({"aac", "isobmff"}),
}


def sniff_bytes(head: bytes) -> str | None:
    """The container family of a file from its first bytes, or None if unrecognised."""
    if len(head) >= 12 and head[:4] == b"RIFF":
        return {b"AVI ": "riff-avi", b"WAVE": "riff-wave", b"WEBP": "riff-webp"}.get(head[8:12])
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "quicktime"
    for offset, sig, family in _SIGNATURES:
        if head[offset : offset + len(sig)] == sig:
            return family
    return None


def sniff(path: Path) -> str | None:
    with path.open("rb") as f:
        return sniff_bytes(f.read(constants.SNIFF_BYTES))


def family_for(extension: str, head: bytes) -> str | None:
    """The container family of ``head`` when a file with ``extension`` may hold it, else None."""
    allowed = _FAMILIES.get(extension.lower().lstrip("."))
    family = sniff_bytes(head)
    return family if allowed is not None and family in allowed else None


@dataclass(frozen=True)
class Probe:
    """What PyAV found in a media file."""

    duration: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
        }


def has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def probe(path: Path) -> Probe | None:
    """Probe a file with PyAV; None when PyAV is missing or the file is not decodable."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            v = next(iter(container.streams.video), None)
            a = next(iter(container.streams.audio), None)
            duration = (
                float(container.duration) / 1_000_000 if container.duration is not None else None
            )
            return Probe(
                duration=duration,
                width=int(v.codec_context.width) if v is not None else None,
                height=int(v.codec_context.height) if v is not None else None,
                video_codec=v.codec_context.name if v is not None else None,
                audio_codec=a.codec_context.name if a is not None else None,
            )
    except Exception as err:  # PyAV raises many error types for undecodable input
        log.debug("probe failed for a file: %s", type(err).__name__)
        return None


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


def representative_frame(path: Path) -> Image.Image | None:
    """A frame that shows what the video is: about a fifth of the way in, or the first later
    (then earlier) look that is neither black nor flat; else the liveliest one seen. None
    without PyAV or for an undecodable file."""
    try:
        import av
    except ImportError:
        return None
    seen: list[Image.Image] = []
    try:
        with av.open(str(path)) as container:
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


def poster_frame(path: Path, *, max_width: int = 480) -> bytes | None:
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


def kind_of(path: Path) -> MediaKind | None:
    return media_kind(path.suffix)
