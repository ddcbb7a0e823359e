"""What the API client returns: typed records of NemoVideo's answers, and the readers that make
them from every shape the backend uses (field names from ``nemo_mcp.contract``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from nemo_mcp.contract import account, envelopes, renders, uploads
from nemo_mcp.contract.renders import RenderState
from nemo_mcp.contract.values import as_float, as_int, as_str, first, first_str
from nemo_mcp.errors import APIError

__all__ = [
    "Credits",
    "DownloadResult",
    "Identity",
    "RenderPoll",
    "SessionInfo",
    "TokenSource",
    "UploadReceipt",
    "UploadedFile",
    "parse_credits",
    "parse_render_poll",
    "parse_session_info",
    "parse_upload_receipt",
]

TokenSource = Literal["env", "login", "anonymous", "none"]


@dataclass(frozen=True)
class Identity:
    """Who we are to NemoVideo, for ``whoami`` / ``doctor``. Never carries the token."""

    source: TokenSource
    user_id: str | None
    expires_at: float | None
    client_id: str | None
    credits: int | None = None


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    task_id: str
    user_id: str | None = None


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    file_type: str | None = None
    cdn_url: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadReceipt:
    files: list[UploadedFile]
    session_state_applied: bool | None = None


@dataclass(frozen=True)
class Credits:
    available: int
    frozen: int
    total: int


@dataclass(frozen=True)
class RenderPoll:
    """One render poll, whatever shape the server used. ``raw_status`` keeps the server's word."""

    render_id: str
    status: RenderState
    progress: float | None = None
    url: str | None = None
    error: str | None = None
    duration: float | None = None
    size: int | None = None
    raw_status: str | None = None


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    resumed: int = 0  # how many times the transfer was resumed after a drop


def _require_dict(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise APIError(f"NemoVideo sent an unexpected answer for {what} (not a JSON object).")
    return cast(dict[str, Any], payload)


def parse_session_info(payload: Any) -> SessionInfo:
    data = _require_dict(payload, "the new session")
    session_id = as_str(first(data, account.SESSION_ID_KEYS))
    task_id = as_str(first(data, account.TASK_ID_KEYS))
    if not session_id:
        raise APIError("NemoVideo created a project but sent no session id.")
    return SessionInfo(
        session_id=session_id,
        task_id=task_id or "",
        user_id=as_str(first(data, account.USER_ID_KEYS)),
    )


_UPLOAD_KNOWN = frozenset(
    {*uploads.FILENAME_KEYS, *uploads.FILE_TYPE_KEYS, *uploads.CDN_URL_KEYS, *uploads.PROBED}
)


def parse_upload_receipt(payload: Any) -> UploadReceipt:
    data = _require_dict(payload, "the upload")
    raw_files = data.get(uploads.FILES_FIELD)
    if raw_files is None and isinstance(data.get("file"), dict):
        raw_files = [data["file"]]
    files: list[UploadedFile] = []
    for item in raw_files if isinstance(raw_files, list) else []:
        if not isinstance(item, dict):
            continue
        files.append(
            UploadedFile(
                filename=as_str(first(item, uploads.FILENAME_KEYS)) or "",
                file_type=as_str(first(item, uploads.FILE_TYPE_KEYS)),
                cdn_url=as_str(first(item, uploads.CDN_URL_KEYS)),
                duration=as_float(item.get("duration")),
                width=as_int(item.get("width")),
                height=as_int(item.get("height")),
                fps=as_float(item.get("fps")),
                extra={k: v for k, v in item.items() if k not in _UPLOAD_KNOWN},
            )
        )
    applied = data.get(uploads.STATE_APPLIED)
    return UploadReceipt(
        files=files, session_state_applied=applied if isinstance(applied, bool) else None
    )


def parse_credits(payload: Any) -> Credits:
    data = _require_dict(payload, "the credit balance")
    available = as_int(data.get(account.AVAILABLE))
    frozen = as_int(data.get(account.FROZEN)) or 0
    total = as_int(data.get(account.TOTAL))
    if available is None:
        raise APIError("NemoVideo sent a credit balance without an 'available' figure.")
    return Credits(
        available=available, frozen=frozen, total=total if total is not None else available + frozen
    )


def _render_error(data: dict[str, Any]) -> str | None:
    for key in renders.ERROR_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, dict):
            inner = envelopes.message_of(value) or as_str(value.get("code"))
            if inner:
                return inner
    return None


def parse_render_poll(payload: Any, fallback_id: str) -> RenderPoll:
    """Normalise every render-poll shape (``contract.renders.poll_answer``).

    Pass the *unwrapped* payload (see ``contract.envelopes.unwrap``).
    """
    data = _require_dict(payload, "the render status")
    if isinstance(data.get(renders.WRAPPER), dict) and "status" not in data:
        data = cast(dict[str, Any], data[renders.WRAPPER])
    output = data.get(renders.OUTPUT) if isinstance(data.get(renders.OUTPUT), dict) else {}
    assert isinstance(output, dict)
    render_id = first_str(data, renders.ID_KEYS) or fallback_id
    raw_status = as_str(first(data, renders.STATUS_KEYS))
    status = renders.state_of(raw_status)
    url = as_str(output.get("url")) or first_str(data, renders.URL_KEYS)
    progress = as_float(data.get("progress"))
    if progress is not None:
        progress = min(max(progress, 0.0), 100.0)
    elif status == "completed":
        progress = 100.0
    return RenderPoll(
        render_id=render_id,
        status=status,
        progress=progress,
        url=url,
        error=_render_error(data),
        duration=as_float(output.get("duration", data.get("duration"))),
        size=as_int(output.get("size", data.get("size"))),
        raw_status=raw_status,
    )
