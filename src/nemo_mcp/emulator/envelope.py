"""Response envelopes and the one exception handlers raise to answer with an error."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from nemo_mcp.contract import envelopes
from nemo_mcp.contract.envelopes import Shape
from nemo_mcp.emulator.faults import status_for_code

DEFAULT_MESSAGES: dict[int, str] = {
    1001: "Token is invalid or expired",
    1002: "Session not found",
    2001: "Insufficient credits",
    4001: "Unsupported file type",
    4002: "File too large",
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required: export is not available for this request",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Reject(Exception):
    """Answer the current request with an error envelope.

    ``code`` is the envelope code (a contract code such as 1001, or an HTTP status for errors the
    contract gives no code); ``status`` defaults to the code's usual HTTP status.
    """

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, "Request failed")
        self.status = status if status is not None else status_for_code(code)
        self.headers = headers or {}
        self.data = data
        super().__init__(f"{self.code}: {self.message}")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status_code=status, headers=headers, media_type="application/json")


def ok(data: Any) -> Response:
    """``{"code": 0, "data": ...}``."""
    return json_response(envelopes.ok(data))


def error_body(reject: Reject, shape: Shape = "code") -> dict[str, Any]:
    return envelopes.error(reject.code, reject.message, reject.data, shape=shape)


def error_response(reject: Reject, shape: Shape = "code", *, force_200: bool = False) -> Response:
    status = reject.status
    if force_200 and reject.code >= 1000:
        status = 200
    return json_response(error_body(reject, shape), status=status, headers=reject.headers)
