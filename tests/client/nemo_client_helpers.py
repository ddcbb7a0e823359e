"""Shared constants and helpers for the API client tests (imported by conftest and tests)."""

from __future__ import annotations

API = "http://api.nemo.test"
WEB = "https://web.nemo.test"
CDN = "https://cdn.nemo.test"
SENTINEL = "nmv_usr_SENTINEL0token0never0leaks"
SENTINEL2 = "nmv_usr_SECOND0sentinel0token0xyz"
ANON_USER = "anon_sentinel_user"


class Sleeps:
    """An instant ``sleep`` that records what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def token_body(token: str = SENTINEL, user_id: str = ANON_USER) -> dict[str, object]:
    return {
        "code": 0,
        "data": {
            "token": token,
            "user_id": user_id,
            "expires_at": "2099-01-01T00:00:00Z",
            "credits": 100,
        },
    }


def assert_clean(exc: BaseException) -> None:
    """No token in an exception's text, repr, hint or chained causes' text."""
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen), getattr(seen, "hint", "") or ""):
            assert SENTINEL not in text and SENTINEL2 not in text, text
        seen = seen.__cause__
