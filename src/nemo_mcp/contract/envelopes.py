"""The two response envelopes, built (emulator) and taken off (client).

``{"code": 0, "data": X}`` and ``{"success": true, "data": X}`` carry ``X``; a non-zero ``code``
(numeric or not) or ``success: false`` is an error, with ``code`` and a message under one of
``MESSAGE_KEYS``; any other object is its own payload (some endpoints answer bare objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from nemo_mcp.contract import codes
from nemo_mcp.contract.values import as_int

Shape = Literal["code", "success"]
MESSAGE_KEYS: Final = ("message", "msg", "error", "detail", "error_message", "errorMessage")


# --- built --------------------------------------------------------------------------------
def ok(data: Any) -> dict[str, Any]:
    """``{"code": 0, "data": ...}``."""
    return {"code": codes.OK, "data": data}


def success(data: Any) -> dict[str, Any]:
    """``{"success": true, "data": ...}`` (the render endpoints' envelope)."""
    return {"success": True, "data": data}


def error(code: int, message: str, data: Any = None, *, shape: Shape = "code") -> dict[str, Any]:
    """An error envelope; the ``success`` shape also says ``success: false`` and ``error``."""
    body: dict[str, Any] = {"code": code, "message": message, "data": data}
    if shape == "success":
        body = {"success": False, "error": message, **body}
    return body


# --- taken off ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Envelope:
    """A response body with the envelope taken off.

    ``ok`` is False when the body carries a non-zero ``code`` or ``success: false``; ``payload``
    is ``data`` when an envelope wraps it, else the whole body.
    """

    ok: bool
    payload: Any
    code: int | None = None
    message: str | None = None


def message_of(body: dict[str, Any]) -> str | None:
    """The error message of an answer (or of an error object inside it), if it has one."""
    for key in MESSAGE_KEYS:
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, dict):
            inner = value.get("message") or value.get("msg")
            if isinstance(inner, str) and inner.strip():
                return inner.strip()
    return None


def unwrap(body: Any) -> Envelope:
    """Apply the unwrap rule (see the module docstring) to any decoded JSON body."""
    if not isinstance(body, dict):
        return Envelope(ok=True, payload=body)
    has_code = "code" in body
    has_success = isinstance(body.get("success"), bool)
    code = as_int(body.get("code")) if has_code else None
    if has_code and body.get("code") is not None and code is None:
        # a non-numeric code (e.g. "SESSION_NOT_FOUND") is an error all the same
        return Envelope(ok=False, payload=body.get("data"), code=None, message=message_of(body))
    if (code is not None and code != codes.OK) or (has_success and body["success"] is False):
        return Envelope(ok=False, payload=body.get("data"), code=code, message=message_of(body))
    if has_code or has_success:
        return Envelope(ok=True, payload=body.get("data"), code=code)
    return Envelope(ok=True, payload=body)
