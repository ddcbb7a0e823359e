"""Bounds on what the backend may send in an ordinary (non-stream) answer: its size and depth.

An answer is read as a stream and abandoned past ``MAX_ANSWER_BYTES`` (an announced
``Content-Length`` above it is refused before anything is read), so a hostile or broken server
cannot make the process hold hundreds of megabytes. JSON nested deeper than ``MAX_JSON_DEPTH``
is refused with a clear error instead of a ``RecursionError`` somewhere later. The chat stream
has its own per-line and per-event caps (``condense.sse``); downloads have theirs (``client``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from nemo_mcp import constants
from nemo_mcp.errors import AnswerTooLargeError


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.0f} MB" if n >= 1_048_576 else f"{n / 1024:.0f} kB"


async def read_answer(response: httpx.Response, action: str, cap: int | None = None) -> bytes:
    """The body of ``response`` (opened with ``stream=True``), or ``AnswerTooLargeError``."""
    limit = constants.MAX_ANSWER_BYTES if cap is None else cap
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise AnswerTooLargeError(
            f"{action}: NemoVideo announced an answer of {_mb(int(length))}, more than the "
            f"{_mb(limit)} nemo-mcp reads; it was not read."
        )
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        if len(buf) + len(chunk) > limit:
            raise AnswerTooLargeError(
                f"{action}: NemoVideo's answer grew past {_mb(limit)}; reading stopped there and "
                "it was discarded."
            )
        buf += chunk
    return bytes(buf)


def too_deep(value: Any, limit: int = constants.MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` (decoded JSON) nests lists and objects deeper than ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def decode_answer(content: bytes, action: str) -> tuple[bool, Any]:
    """``(True, value)`` for JSON within the depth limit, ``(False, None)`` for non-JSON;
    ``AnswerTooLargeError`` for JSON nested too deeply (never a ``RecursionError``)."""
    if not content:
        return False, None
    try:
        value = json.loads(content)
    except RecursionError:
        value = None
        deep = True
    except (ValueError, UnicodeDecodeError):
        return False, None
    else:
        deep = too_deep(value)
    if deep:
        raise AnswerTooLargeError(
            f"{action}: NemoVideo sent JSON nested more than {constants.MAX_JSON_DEPTH} levels "
            "deep; it was not used."
        )
    return True, value
