"""Reading NemoVideo's answers: bounded in size and depth, and the error an answer stands for.

An ordinary (non-stream) answer is read as a stream and abandoned past ``MAX_ANSWER_BYTES`` (an
announced ``Content-Length`` above it is refused before anything is read), so a hostile or
broken server cannot make the process hold hundreds of megabytes. JSON nested deeper than
``MAX_JSON_DEPTH`` is refused with a clear error instead of a ``RecursionError`` somewhere later.
An error answer is read up to ``MAX_ERROR_BODY_BYTES`` and never echoed: its envelope code and
message, and its status, make the error (``response_error``). The chat stream has its own
per-line and per-event caps (``stream.sse``); downloads have theirs (``api.downloads``).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from datetime import UTC
from typing import Any

import httpx

from nemo_mcp import constants
from nemo_mcp.contract import envelopes
from nemo_mcp.contract.values import as_float
from nemo_mcp.errors import AnswerTooLargeError, NemoError, error_for


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


async def read_capped(response: httpx.Response, cap: int = constants.MAX_ERROR_BODY_BYTES) -> bytes:
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        buf += chunk[: cap - len(buf)]
        if len(buf) >= cap:
            break
    return bytes(buf)


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
