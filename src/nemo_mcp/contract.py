"""The NemoVideo wire vocabulary: paths, header names, error codes, formats.

Shared by the client and the emulator so the two can never disagree about a path or a code.
See the project's API contract notes for where each item comes from.
"""

from __future__ import annotations

from typing import Final, Literal

APP_NAME: Final = "nemo_agent"
USER_ID: Final = "me"

# --- Paths ------------------------------------------------------------------------------------
PATH_ANON_TOKEN: Final = "/api/auth/anonymous-token"
PATH_CREATE_SESSION: Final = "/api/tasks/me/with-session/nemo_agent"
PATH_CLAIM_TOKEN: Final = "/api/auth/claim-token"
PATH_RUN_SSE: Final = "/run_sse"
PATH_CREDITS: Final = "/api/credits/balance/simple"
PATH_RENDER: Final = "/api/render/proxy/lambda"


def upload_path(session_id: str) -> str:
    return f"/api/upload-video/nemo_agent/me/{session_id}"


def state_path(session_id: str) -> str:
    return f"/api/state/nemo_agent/me/{session_id}/latest"


def render_path(render_id: str) -> str:
    return f"{PATH_RENDER}/{render_id}"


def render_cancel_path(render_id: str) -> str:
    return f"{PATH_RENDER}/{render_id}/cancel"


def render_download_path(render_id: str) -> str:
    return f"/api/render/proxy/{render_id}/download"


# --- Headers ----------------------------------------------------------------------------------
H_CLIENT_ID: Final = "X-Client-Id"
H_SKILL_SOURCE: Final = "X-Skill-Source"
H_SKILL_VERSION: Final = "X-Skill-Version"
H_SKILL_PLATFORM: Final = "X-Skill-Platform"
ATTRIBUTION_HEADERS: Final = (H_SKILL_SOURCE, H_SKILL_VERSION, H_SKILL_PLATFORM)

# --- Envelope codes (data["code"]) ------------------------------------------------------------
CODE_OK: Final = 0
CODE_TOKEN_INVALID: Final = 1001
CODE_SESSION_NOT_FOUND: Final = 1002
CODE_NO_CREDITS: Final = 2001
CODE_UNSUPPORTED_FILE: Final = 4001
CODE_FILE_TOO_LARGE: Final = 4002

# --- Media ------------------------------------------------------------------------------------
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


# --- Renders ----------------------------------------------------------------------------------
RenderStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]
RENDER_TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})

# --- Draft (timeline) track types -------------------------------------------------------------
TRACK_VIDEO: Final = 0
TRACK_AUDIO: Final = 1
TRACK_TEXT: Final = 7
