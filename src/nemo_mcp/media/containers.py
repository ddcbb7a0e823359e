"""Recognise media files by their first bytes: a renamed text file is not a song.

Extension checks alone let ``notes.txt`` renamed to ``song.mp4`` through; ``sniff`` reads the
container signature, and ``family_for`` says whether a file with that extension may hold it.
"""

from __future__ import annotations

from pathlib import Path

from nemo_mcp import constants
from nemo_mcp.contract.media import MediaKind, media_kind

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


def kind_of(path: Path) -> MediaKind | None:
    return media_kind(path.suffix)
