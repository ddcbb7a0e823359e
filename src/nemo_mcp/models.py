"""Typed records: what the state store keeps, and what the API client returns.

Everything here is a plain frozen dataclass (pydantic can validate and serialise them at the tool
boundary). The ``parse_*`` functions turn NemoVideo's loosely specified JSON (two envelopes, bare
objects, four render-poll shapes) into these types, and the wire helpers at the end turn failed
answers and transport failures into ``NemoError``s with safe messages. All of it is pure: no I/O.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Literal, cast

import httpx

from nemo_mcp.contract import account, envelopes, renders, uploads
from nemo_mcp.contract.renders import RenderState
from nemo_mcp.contract.values import as_float, as_int, as_str, first, first_str
from nemo_mcp.errors import APIError, APITimeoutError, NemoError, TransportError, error_for

__all__ = [
    "Credits",
    "DownloadResult",
    "Identity",
    "RenderState",
    "RenderStatus",
    "SessionInfo",
    "TokenSource",
    "UploadResult",
    "UploadedFile",
    "decode_json",
    "parse_credits",
    "parse_render_status",
    "parse_retry_after",
    "parse_session_info",
    "parse_upload_result",
    "response_error",
    "safe_url",
    "strip_urls",
    "transport_error",
]

TokenSource = Literal["env", "login", "anonymous", "none"]


def _now() -> float:
    return time.time()


# --- Stored records -------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who we are to NemoVideo, for ``whoami`` / ``doctor``. Never carries the token."""

    source: TokenSource
    user_id: str | None
    expires_at: float | None
    client_id: str | None
    credits: int | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.source == "anonymous"


# --- API results ----------------------------------------------------------------------------


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
class UploadResult:
    files: list[UploadedFile]
    session_state_applied: bool | None = None


@dataclass(frozen=True)
class Credits:
    available: int
    frozen: int
    total: int


@dataclass(frozen=True)
class RenderStatus:
    """One render poll, whatever shape the server used. ``raw_status`` keeps the server's word."""

    render_id: str
    status: RenderState
    progress: float | None = None
    url: str | None = None
    error: str | None = None
    duration: float | None = None
    size: int | None = None
    raw_status: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    resumed: int = 0  # how many times the transfer was resumed after a drop


# --- Wire parsing ---------------------------------------------------------------------------


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


def parse_upload_result(payload: Any) -> UploadResult:
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
    return UploadResult(
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


def parse_render_status(payload: Any, fallback_id: str) -> RenderStatus:
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
    return RenderStatus(
        render_id=render_id,
        status=status,
        progress=progress,
        url=url,
        error=_render_error(data),
        duration=as_float(output.get("duration", data.get("duration"))),
        size=as_int(output.get("size", data.get("size"))),
        raw_status=raw_status,
    )


# --- Wire helpers: errors out of answers and transport failures ------------------------------

_URL_RE = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://([^/\s'\"<>]+)[^\s'\"<>]*")


def strip_urls(text: str) -> str:
    """Replace every URL in ``text`` with its host (signed URLs carry secrets in the query)."""
    return _URL_RE.sub(lambda m: f"<{m.group(1).rsplit('@', 1)[-1]}>", text)


def safe_url(url: str | httpx.URL) -> str:
    """``scheme://host/path`` of a URL, without credentials, query or fragment (for logs)."""
    u = httpx.URL(str(url))
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme}://{u.host}{port}{u.path}"


def parse_retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    ms = as_float(headers.get("retry-after-ms"))
    if ms is not None and ms >= 0:
        return ms / 1000.0
    raw = headers.get("retry-after")
    if not raw:
        return None
    seconds = as_float(raw)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def decode_json(content: bytes) -> tuple[bool, Any]:
    """``(True, value)`` for a JSON body, ``(False, None)`` for anything else."""
    if not content:
        return False, None
    try:
        return True, json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False, None


def _describe_body(content: bytes, content_type: str | None) -> str:
    kind = (content_type or "no content type").split(";", 1)[0].strip() or "no content type"
    return f"a non-JSON answer ({kind}, {len(content)} bytes)"


def response_error(
    status: int,
    content: bytes,
    content_type: str | None,
    *,
    retry_after: float | None = None,
    registration_url: str | None = None,
) -> NemoError:
    """The error an HTTP answer stands for: its envelope ``code``/``message`` and its status.

    Call it for any non-2xx answer, and for a 2xx whose envelope says it failed. The server's
    own text is kept short; a non-JSON body is described, never echoed.
    """
    is_json, body = decode_json(content)
    code: int | None = None
    message: str | None = None
    if is_json and isinstance(body, dict):
        env = envelopes.unwrap(body)
        code = env.code
        message = env.message or envelopes.message_of(body)
    elif content:
        message = _describe_body(content, content_type)
    if message:
        message = strip_urls(message)
    return error_for(
        status, code, message, retry_after=retry_after, registration_url=registration_url
    )


def transport_error(exc: httpx.HTTPError, action: str) -> NemoError:
    """A NemoError for a request that got no (complete) answer. Raise it ``from exc``.

    The message names the failure type and a URL-free reason; never a token or a signed URL.
    """
    reason = strip_urls(str(exc)).strip().replace("\n", " ")[:200]
    detail = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{action}: NemoVideo did not answer in time ({detail}).")
    return TransportError(f"{action}: the connection failed ({detail}).")
