"""Envelope codes (``{"code": N}``) and the HTTP status each one is answered with."""

from __future__ import annotations

from typing import Final

OK: Final = 0
TOKEN_INVALID: Final = 1001  # expired or revoked: get a new token
SESSION_NOT_FOUND: Final = 1002
NO_CREDITS: Final = 2001
UNSUPPORTED_FILE: Final = 4001
FILE_TOO_LARGE: Final = 4002

HTTP_STATUS: Final[dict[int, int]] = {
    TOKEN_INVALID: 401,
    SESSION_NOT_FOUND: 404,
    NO_CREDITS: 402,
    UNSUPPORTED_FILE: 400,
    FILE_TOO_LARGE: 413,
}
