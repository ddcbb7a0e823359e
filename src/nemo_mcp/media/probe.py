"""Probing media files with PyAV (an optional dependency: ``nemo-mcp[media]``), and checking a
downloaded export."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemo_mcp.media.containers import sniff

log = logging.getLogger(__name__)


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


def mp4_problem(path: Path) -> str | None:
    """Why a downloaded file is not a usable MP4, or None when it is."""
    if not path.exists() or path.stat().st_size == 0:
        return "the file is empty"
    if sniff(path) != "isobmff":
        return "it is not an MP4 container"
    if has_pyav():
        found = probe(path)
        if found is None or found.video_codec is None:
            return "it has no decodable video stream"
    return None
