"""Turn SSE frames of ``/run_sse`` into typed agent events, whatever dialect they arrive in.

Accepted (api-contract 7.3-7.9):

- ADK ``Event`` JSON, camelCase (ADK >= 0.5) or snake_case (ADK 0.1-0.4): ``content.parts[]``
  with ``text`` / ``thought`` / ``functionCall`` / ``functionResponse``; ``partial``;
  ``actions.stateDelta``; ``errorCode`` + ``errorMessage``; ``longRunningToolIds``.
- The ``{"type": "text" | "tool_call" | "tool_result" | "heartbeat" | ...}`` dialect.
- Heartbeats: SSE comments, empty or whitespace-only ``data:``, ``data: heartbeat`` and
  ``{"type":"heartbeat"}`` (plus ``ping`` / ``keepalive`` spellings).
- Error frames: ``{"error": ..., "error_details": {...}}`` and the invalid-JSON ADK 1.x
  f-string frame ``{"error": "message with "quotes""}`` (regex fallback).

:func:`parse_frame` never raises: anything it cannot make sense of is an ``"unknown"`` event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, NamedTuple

import msgspec

from nemo_mcp.contract.stream import (
    ERROR,
    ERROR_CODE,
    ERROR_DETAILS,
    ERROR_MESSAGE,
    ERROR_TYPE,
    FUNCTION_CALL,
    FUNCTION_RESPONSE,
    LONG_RUNNING_TOOL_IDS,
    STATE_DELTA,
    TYPE,
    TYPE_ERROR,
    TYPE_HEARTBEAT,
    TYPE_TEXT,
    TYPE_TOOL_CALL,
    TYPE_TOOL_RESULT,
)
from nemo_mcp.stream.sse import SSEFrame

__all__ = ["HEARTBEAT", "AgentEvent", "EventKind", "parse_data", "parse_frame"]

EventKind = Literal[
    "text",
    "partial_text",
    "thought",
    "tool_call",
    "tool_result",
    "state_delta",
    "heartbeat",
    "error",
    "model_error",
    "unknown",
]


class AgentEvent(NamedTuple):
    """One normalised thing that happened in the stream.

    - ``text`` / ``partial_text`` / ``thought``: ``text`` holds the (delta) text;
    - ``tool_call`` / ``tool_result``: ``tool`` is the raw tool name, ``call_id`` its id,
      ``payload`` the args or response; ``long_running`` and ``failed`` are hints;
    - ``state_delta``: ``keys`` are the touched state keys, ``payload`` the delta;
    - ``error`` (fatal stream error) / ``model_error`` (``errorCode`` on an event): ``text`` is
      the message, ``code`` the error type or code, ``payload`` any details;
    - ``unknown``: ``text`` is a short preview of what was not understood.

    Every string here is untrusted text from the network: clean it before showing it.
    A named tuple: the stream makes one or more per frame, and a tuple is the cheapest to make.
    """

    kind: EventKind
    text: str = ""
    tool: str = ""
    call_id: str = ""
    code: str = ""
    keys: tuple[str, ...] = ()
    partial: bool = False
    long_running: bool = False
    failed: bool = False
    payload: Any = None


HEARTBEAT: Final = AgentEvent("heartbeat")

_HEARTBEAT_WORDS: Final = frozenset({TYPE_HEARTBEAT, "ping", "keepalive", "keep-alive", "[done]"})
_HEARTBEAT_TYPES: Final = frozenset(
    {TYPE_HEARTBEAT, "ping", "keepalive", "keep_alive", "keep-alive"}
)
_PREVIEW_CHARS: Final = 200
_MAX_KEYS: Final = 50
# ADK 1.x: yield f'data: {{"error": "{str(e)}"}}\n\n' -- invalid JSON when the message has quotes.
_FSTRING_ERROR = re.compile(r'\s*\{\s*"error"\s*:\s*"')
_FSTRING_TAIL = re.compile(r'"?\s*\}?\s*$')

_TEXT_TYPES: Final = frozenset({TYPE_TEXT, "message", "answer", "assistant", "response", "final"})
_PARTIAL_TYPES: Final = frozenset(
    {"partial", "partial_text", "text_delta", "delta", "content_delta", "token", "chunk"}
)
_THOUGHT_TYPES: Final = frozenset({"thought", "thinking", "reasoning"})
_CALL_TYPES: Final = frozenset(
    {TYPE_TOOL_CALL, "function_call", "tool_use", "tool_start", "toolcall", "functioncall"}
)
_RESULT_TYPES: Final = frozenset(
    {
        TYPE_TOOL_RESULT,
        "function_response",
        "tool_response",
        "tool_end",
        "tool_output",
        "toolresult",
        "functionresponse",
    }
)
_STATE_TYPES: Final = frozenset({"state", "state_delta", "state_update", "statedelta"})
_ERROR_TYPES: Final = frozenset({TYPE_ERROR, "fatal", "exception"})
_FAILED_STATUSES: Final = frozenset({"error", "failed", "failure", "fail"})


def parse_frame(frame: SSEFrame) -> list[AgentEvent]:
    """Normalise one SSE frame into zero or more events (usually exactly one)."""
    if frame.is_comment or frame.data is None:
        return [HEARTBEAT]
    data = frame.data
    stripped = data.strip()
    if not stripped:
        return [HEARTBEAT]
    if len(stripped) <= 12 and stripped.lower() in _HEARTBEAT_WORDS:
        return [HEARTBEAT]
    if frame.event is not None and frame.event.strip().lower() in _HEARTBEAT_TYPES:
        return [HEARTBEAT]
    return parse_data(stripped)


_decode = msgspec.json.Decoder().decode


def load_json(text: str) -> Any:
    """``json.loads(text)``, faster: msgspec decodes it (about twice as fast); what msgspec
    refuses (``NaN``, numbers beyond 64 bits, lone surrogates, bad JSON) goes to ``json.loads``,
    so the result, or the error, is always the standard library's."""
    try:
        return _decode(text)
    except (ValueError, RecursionError):
        return json.loads(text)


def parse_data(text: str) -> list[AgentEvent]:
    """Parse the joined ``data`` of one frame (already known not to be a bare heartbeat)."""
    try:
        obj = load_json(text)
    except (ValueError, RecursionError):
        match = _FSTRING_ERROR.match(text)
        if match:
            message = _FSTRING_TAIL.sub("", text[match.end() :], count=1)
            return [AgentEvent("error", text=message or "unspecified error")]
        return [AgentEvent("unknown", text=text[:_PREVIEW_CHARS])]
    try:
        return _parse_object(obj)
    except RecursionError:  # absurdly nested payloads: give up on this frame only
        return [AgentEvent("unknown", text=text[:_PREVIEW_CHARS])]


# -- helpers ------------------------------------------------------------------------------------
def _get(obj: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = obj.get(name)
        if value is not None:
            return value
    return None


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:_PREVIEW_CHARS]
    except (TypeError, ValueError, RecursionError):
        return ""


def _is_failed_result(response: Any) -> bool:
    if not isinstance(response, Mapping):
        return False
    if response.get("error"):
        return True
    status = response.get("status")
    return isinstance(status, str) and status.strip().lower() in _FAILED_STATUSES


def _error_message(value: Any) -> tuple[str, str]:
    """(message, code) from an ``error`` value: a string, or an object with message/code."""
    if isinstance(value, Mapping):
        message = _str(_get(value, "message", "error_message", "errorMessage", "detail", "error"))
        code = _str(_get(value, "code", "type", "error_type", "errorType"))
        return message, code
    return _str(value), ""


def _parse_object(obj: Any) -> list[AgentEvent]:
    if type(obj) is not dict:
        return [AgentEvent("unknown", text=_str(obj)[:_PREVIEW_CHARS])]
    kind = obj.get(TYPE)
    if type(kind) is str and type(obj.get("content")) is not dict:
        return _parse_typed(obj, kind)
    if ERROR in obj:
        return [_parse_error_frame(obj)]
    return _parse_adk(obj)


def _parse_error_frame(obj: Mapping[str, Any]) -> AgentEvent:
    message, code = _error_message(obj.get(ERROR))
    details = _get(obj, ERROR_DETAILS.snake, ERROR_DETAILS.camel)
    if isinstance(details, Mapping):
        if not message:
            message = _str(_get(details, ERROR_MESSAGE.snake, ERROR_MESSAGE.camel, "message"))
        if not code:
            code = _str(_get(details, ERROR_TYPE.snake, ERROR_TYPE.camel, "type"))
    return AgentEvent(
        "error",
        text=message.strip() or "unspecified error",
        code=code,
        payload=dict(details) if isinstance(details, Mapping) else None,
    )


def _parse_typed(obj: Mapping[str, Any], type_: str) -> list[AgentEvent]:
    t = type_.strip().lower()
    if t in _HEARTBEAT_TYPES:
        return [HEARTBEAT]
    if t in _TEXT_TYPES or t in _PARTIAL_TYPES or t in _THOUGHT_TYPES:
        text = _get(obj, "content", "text", "message", "delta")
        if not isinstance(text, str):
            return [AgentEvent("unknown", text=f"type {t}")]
        if t in _THOUGHT_TYPES or obj.get("thought") is True:
            return [AgentEvent("thought", text=text, partial=obj.get("partial") is True)]
        if t in _PARTIAL_TYPES or obj.get("partial") is True:
            return [AgentEvent("partial_text", text=text, partial=True)]
        return [AgentEvent("text", text=text)]
    if t in _CALL_TYPES:
        return [
            AgentEvent(
                "tool_call",
                tool=_str(_get(obj, "name", "tool", "tool_name", "toolName", "function")),
                call_id=_str(_get(obj, "id", "call_id", "callId", "tool_call_id")),
                payload=_get(obj, "args", "arguments", "input", "params"),
                long_running=obj.get("long_running") is True or obj.get("longRunning") is True,
            )
        ]
    if t in _RESULT_TYPES:
        result = _get(obj, "result", "response", "output", "content")
        return [
            AgentEvent(
                "tool_result",
                tool=_str(_get(obj, "name", "tool", "tool_name", "toolName", "function")),
                call_id=_str(_get(obj, "id", "call_id", "callId", "tool_call_id")),
                payload=result,
                failed=_is_failed_result(result) or obj.get("is_error") is True,
            )
        ]
    if t in _STATE_TYPES:
        delta = _get(obj, "delta", "state_delta", "stateDelta", "state", "data")
        if isinstance(delta, Mapping) and delta:
            return [_state_event(delta)]
        return [AgentEvent("unknown", text=f"type {t}")]
    if t in _ERROR_TYPES:
        message, code = _error_message(_get(obj, "error", "message", "content", "detail"))
        return [AgentEvent("error", text=message.strip() or "unspecified error", code=code)]
    return [AgentEvent("unknown", text=f"type {_str(type_)[:40]}")]


def _state_event(delta: Mapping[Any, Any]) -> AgentEvent:
    keys = tuple(sorted({str(k)[:80] for k in delta}))[:_MAX_KEYS]
    return AgentEvent("state_delta", keys=keys, payload=delta)


_CALL_CAMEL, _CALL_SNAKE = FUNCTION_CALL
_RESPONSE_CAMEL, _RESPONSE_SNAKE = FUNCTION_RESPONSE
_LONG_CAMEL, _LONG_SNAKE = LONG_RUNNING_TOOL_IDS
_DELTA_CAMEL, _DELTA_SNAKE = STATE_DELTA
_CODE_CAMEL, _CODE_SNAKE = ERROR_CODE


def _either(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _parse_adk(obj: dict[str, Any]) -> list[AgentEvent]:
    # The hot path of the whole stream (most frames are ADK events): decoded JSON holds only
    # dicts and lists, so plain type checks replace the Mapping checks used elsewhere.
    events: list[AgentEvent] = []
    partial = obj.get("partial") is True
    content = obj.get("content")
    if type(content) is dict:
        parts = content.get("parts")
        if type(parts) is list:
            texts: list[str] = []
            thoughts: list[str] = []
            calls: list[AgentEvent] = []
            long_running: set[str] | None = None
            for part in parts:
                if type(part) is not dict:
                    continue
                text = part.get("text")
                if type(text) is str:
                    (thoughts if part.get("thought") is True else texts).append(text)
                    if len(part) == 1:
                        continue  # a text part, nothing else to look for
                call = _either(part, _CALL_CAMEL, _CALL_SNAKE)
                if type(call) is dict:
                    if long_running is None:
                        ids = _either(obj, _LONG_CAMEL, _LONG_SNAKE)
                        long_running = (
                            {x for x in ids if type(x) is str} if type(ids) is list else set()
                        )
                    call_id = _str(call.get("id"))
                    calls.append(
                        AgentEvent(
                            "tool_call",
                            tool=_str(call.get("name")),
                            call_id=call_id,
                            payload=call.get("args"),
                            partial=partial,
                            long_running=bool(call_id) and call_id in long_running,
                        )
                    )
                response = _either(part, _RESPONSE_CAMEL, _RESPONSE_SNAKE)
                if type(response) is dict:
                    body = response.get("response")
                    calls.append(
                        AgentEvent(
                            "tool_result",
                            tool=_str(response.get("name")),
                            call_id=_str(response.get("id")),
                            payload=body,
                            partial=partial,
                            failed=_is_failed_result(body),
                        )
                    )
            if thoughts:
                events.append(AgentEvent("thought", text="".join(thoughts), partial=partial))
            if texts:
                joined = texts[0] if len(texts) == 1 else "".join(texts)
                if partial:
                    events.append(AgentEvent("partial_text", text=joined, partial=True))
                else:
                    events.append(AgentEvent("text", text=joined))
            if calls:
                events.extend(calls)
    actions = obj.get("actions")
    delta = _either(actions, _DELTA_CAMEL, _DELTA_SNAKE) if type(actions) is dict else None
    if delta is None:
        delta = _either(obj, _DELTA_CAMEL, _DELTA_SNAKE)
    if delta and isinstance(delta, Mapping):
        events.append(_state_event(delta))
    code = _either(obj, _CODE_CAMEL, _CODE_SNAKE)
    if code not in (None, "", 0, False):
        message = _str(_get(obj, *ERROR_MESSAGE)).strip()
        code_text = _str(code)
        events.append(AgentEvent("model_error", text=message or code_text, code=code_text))
    if not events:
        events.append(AgentEvent("unknown", text=_describe_keys(obj)))
    return events


def _describe_keys(obj: Mapping[str, Any]) -> str:
    return "event with " + ", ".join(sorted(str(k) for k in obj)[:12])
