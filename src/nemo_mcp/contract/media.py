"""Media NemoVideo accepts: kinds, file extensions and their MIME types."""

from __future__ import annotations

from typing import Final, Literal

VIDEO_EXTENSIONS: Final = ("mp4", "mov", "avi", "webm", "mkv")
IMAGE_EXTENSIONS: Final = ("jpg", "jpeg", "png", "gif", "webp")
AUDIO_EXTENSIONS: Final = ("mp3", "wav", "m4a", "aac")
SUPPORTED_EXTENSIONS: Final = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS + AUDIO_EXTENSIONS

MIME_TYPES: Final = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
}
OCTET_STREAM: Final = "application/octet-stream"

MediaKind = Literal["video", "image", "audio"]


def media_kind(extension: str) -> MediaKind | None:
    ext = extension.lower().lstrip(".")
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    return None


def mime_type(extension: str) -> str:
    return MIME_TYPES.get(extension.lower().lstrip("."), OCTET_STREAM)
