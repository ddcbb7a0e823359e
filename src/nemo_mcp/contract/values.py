"""Reading loosely typed wire values: numbers sent as text, ids sent as numbers, and times as
epoch seconds, epoch milliseconds or ISO 8601. None for anything that is not what it should be.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def as_str(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float):
        return str(value)
    return None


def epoch(value: Any) -> float | None:
    """A time as epoch seconds: epoch seconds or milliseconds, numeric text or ISO 8601."""
    number = as_float(value)
    if number is not None:
        if number <= 0:
            return None
        return number / 1000.0 if number > 1e11 else number
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def iso(ts: float) -> str:
    """Epoch seconds as the ISO 8601 UTC text the backend sends (``2026-01-02T03:04:05Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` that ``obj`` has with a truthy value, else None."""
    for key in keys:
        value = obj.get(key)
        if value:
            return value
    return None


def first_str(obj: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` whose value reads as a non-empty string (``as_str``), else None."""
    for key in keys:
        text = as_str(obj.get(key))
        if text is not None:
            return text
    return None
