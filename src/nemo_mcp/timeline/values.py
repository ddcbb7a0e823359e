"""Reading a draft's loosely typed values: numbers, times, labels, volumes, ratios; and the
way they are written back in a summary (seconds, ranges, percents, quoted labels)."""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from nemo_mcp.timeline.fields import (
    COMMON_RATIOS,
    LABEL_CHARS,
    MAX_META_JSON,
    META_KEYS,
    PLACEHOLDERS,
)
from nemo_mcp.untrusted import clean_label


def quote(label: str) -> str:
    """How every backend-supplied label is shown: in double quotes, which labels never contain."""
    return f'"{label}"'


def first_of(obj: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in obj:
            value = obj[key]
            if value is not None:
                return value
    return None


def read_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        if not text or len(text) > 32:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return number


def read_ms(value: Any) -> int | None:
    number = read_number(value)
    if number is None or number < 0 or number > 1e12:
        return None
    return round(number)


def text_of(value: Any) -> str | None:
    """A clean label from a typed value, or None (never a placeholder word)."""
    if isinstance(value, str):
        label = clean_label(value, LABEL_CHARS)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        label = str(value)
    else:
        return None
    if not label or label.strip(" .:-_#*").lower() in PLACEHOLDERS:
        return None
    return label


def read_volume(value: Any) -> float | None:
    """A volume as a fraction (1.0 = 100 %). Values up to 2 are fractions, above are percents."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = read_number(value)
        return None if number is None or number < 0 else number / 100.0
    number = read_number(value)
    if number is None or number < 0 or number > 10_000:
        return None
    return number if number <= 2 else number / 100.0


def format_seconds(ms: int) -> str:
    """10000 -> "10", 2500 -> "2.5"."""
    seconds = round(ms / 1000.0, 1)
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:.1f}"


def fmt_range(start: int, end: int, unit: str = "s") -> str:
    return f"{format_seconds(start)}-{format_seconds(end)}{unit}"


def fmt_percent(volume: float) -> str:
    return f"{round(volume * 100)}%"


def stem_of(src: str) -> str | None:
    try:
        path = urlsplit(src).path if "://" in src else src
    except ValueError:
        path = src
    base = posixpath.basename(unquote(path).replace("\\", "/"))
    if "." in base:
        base = base.rsplit(".", 1)[0]
    return text_of(base)


def json_load(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value


def fingerprint(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    try:
        blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        blob = repr(value)
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()


def scopes_of(raw: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The object itself, then its metadata objects one level down (see ``META_KEYS``)."""
    yield raw
    for key in META_KEYS:
        value = raw.get(key)
        if isinstance(value, str) and value.lstrip().startswith("{"):
            value = json_load(value) if len(value) <= MAX_META_JSON else None
        if isinstance(value, Mapping):
            yield value


def label_of(raw: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first real label under ``keys``, at the top level or (strings only) one level down."""
    for scope in scopes_of(raw):
        for key in keys:
            value = scope.get(key)
            label = text_of(value) if scope is raw or isinstance(value, str) else None
            if label is not None:
                return label
    return None


def deep_first_of(raw: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for scope in scopes_of(raw):
        value = first_of(scope, keys)
        if value is not None and not isinstance(value, Mapping | list):
            return value
    return None


def normalise_ratio(value: Any) -> str | None:
    if isinstance(value, str):
        text = value.strip().replace("/", ":").replace("x", ":").replace("：", ":")
        if ":" in text:
            left, _, right = text.partition(":")
            a, b = read_number(left), read_number(right)
            if not (a and b and a > 0 and b > 0 and a < 1e6 and b < 1e6):
                return None
            if a.is_integer() and b.is_integer():
                return ratio_from_size(int(a), int(b))
            return ratio_from_float(a / b)
        number = read_number(text)
        return ratio_from_float(number) if number else None
    number = read_number(value)
    return ratio_from_float(number) if number else None


def ratio_from_float(value: float) -> str | None:
    if value <= 0:
        return None
    for a, b in COMMON_RATIOS:
        if abs(value - a / b) / (a / b) < 0.01:
            return f"{a}:{b}"
    return f"{value:.2f}:1"


def ratio_from_size(width: int, height: int) -> str:
    exact = math.gcd(width, height)
    a, b = width // exact, height // exact
    if a <= 32 and b <= 32:
        return f"{a}:{b}"
    return ratio_from_float(width / height) or f"{a}:{b}"
