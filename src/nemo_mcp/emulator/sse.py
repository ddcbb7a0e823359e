"""Frames for ``POST /run_sse`` in every dialect the contract describes.

ADK camelCase (ADK >= 0.5, the default), ADK snake_case (ADK 0.1-0.4), and the
``{"type": ...}`` dialect; the four heartbeat forms; the model-level error event
(``errorCode`` / ``errorMessage``) and both fatal error frames (ADK 2.x JSON, ADK 1.x f-string
that can be invalid JSON). Every frame is ``data: <one line>\\n\\n`` (or a ``: ping`` comment);
there are no ``event:`` or ``id:`` lines and no terminator, as in ADK.
"""

from __future__ import annotations

import json
import secrets
import string
import time
import uuid
from typing import Any, Final

from nemo_mcp.contract import stream
from nemo_mcp.contract.paths import APP_NAME
from nemo_mcp.contract.stream import (
    ARTIFACT_DELTA,
    ERROR,
    ERROR_CODE,
    ERROR_DETAILS,
    ERROR_MESSAGE,
    ERROR_TYPE,
    FINISH_REASON,
    FUNCTION_CALL,
    FUNCTION_RESPONSE,
    INVOCATION_ID,
    LONG_RUNNING_TOOL_IDS,
    REQUESTED_AUTH_CONFIGS,
    STATE_DELTA,
    TYPE,
    TYPE_ERROR,
    TYPE_TEXT,
    TYPE_TOOL_CALL,
    TYPE_TOOL_RESULT,
    USAGE_METADATA,
    Field,
)
from nemo_mcp.emulator.config import StreamSpec

AUTHOR: Final = APP_NAME
PARTIAL_PIECES: Final = 4


def frame(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _short_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def split_text(text: str, pieces: int = PARTIAL_PIECES) -> list[str]:
    """``text`` cut into about ``pieces`` deltas whose concatenation is exactly ``text`` (at
    spaces when there are enough, else by characters, e.g. for Chinese)."""
    if len(text) < pieces:
        return [text]
    words = text.split(" ")
    if len(words) >= pieces:
        size = -(-len(words) // pieces)
        groups = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
        return [g + " " for g in groups[:-1]] + [groups[-1]]
    size = -(-len(text) // pieces)
    return [text[i : i + size] for i in range(0, len(text), size)]


class Framer:
    """Builds the frames of one turn in one dialect."""

    def __init__(self, spec: StreamSpec) -> None:
        self.spec = spec
        self.snake = spec.dialect == "adk_snake"
        self.typed = spec.dialect == "typed"
        self.invocation_id = "e-" + str(uuid.uuid4())

    # --- helpers ------------------------------------------------------------------------------
    def _k(self, field: Field) -> str:
        return field.spelled(self.snake)

    def _actions(self, state_delta: dict[str, Any] | None = None) -> dict[str, Any]:
        actions = {
            self._k(STATE_DELTA): state_delta or {},
            self._k(ARTIFACT_DELTA): {},
            self._k(REQUESTED_AUTH_CONFIGS): {},
        }
        if not self.snake:  # ADK >= 1.x
            actions["requestedToolConfirmations"] = {}
        return actions

    def _event(self, body: dict[str, Any], *, state_delta: dict[str, Any] | None = None) -> bytes:
        event = dict(body)
        event[self._k(INVOCATION_ID)] = self.invocation_id
        event["author"] = AUTHOR
        event["actions"] = self._actions(state_delta)
        if "_long" in event:
            event[self._k(LONG_RUNNING_TOOL_IDS)] = event.pop("_long")
        event["id"] = _short_id() if self.snake else str(uuid.uuid4())
        event["timestamp"] = time.time()
        return frame(event)

    # --- frames -------------------------------------------------------------------------------
    def heartbeat(self) -> bytes:
        form = self.spec.heartbeat or ("json" if self.typed else "comment")
        return stream.HEARTBEATS[form]

    def function_call(
        self, call_id: str, name: str, args: dict[str, Any], *, long_running: bool
    ) -> bytes:
        if self.typed:
            return frame({TYPE: TYPE_TOOL_CALL, "id": call_id, "name": name, "args": args})
        part = {self._k(FUNCTION_CALL): {"id": call_id, "args": args, "name": name}}
        body: dict[str, Any] = {"content": {"parts": [part], "role": "model"}}
        if long_running:
            body["_long"] = [call_id]
        return self._event(body)

    def function_response(
        self,
        call_id: str,
        name: str,
        response: dict[str, Any],
        state_delta: dict[str, Any],
    ) -> bytes:
        if self.typed:
            return frame(
                {
                    TYPE: TYPE_TOOL_RESULT,
                    "id": call_id,
                    "name": name,
                    "result": response,
                    STATE_DELTA.snake: state_delta,
                }
            )
        key = self._k(FUNCTION_RESPONSE)
        part = {key: {"id": call_id, "name": name, "response": response}}
        body = {"content": {"parts": [part], "role": "user"}}
        return self._event(body, state_delta=state_delta)

    def text_chunks(self, text: str) -> list[bytes]:
        """Partial deltas of ``text`` (ADK streaming mode); empty for the typed dialect."""
        if self.typed:
            return []
        out = []
        for delta in split_text(text):
            body = {"content": {"parts": [{"text": delta}], "role": "model"}, "partial": True}
            out.append(self._event(body))
        return out

    def final_text(self, text: str, *, streamed: bool, thought: str | None = None) -> bytes:
        """The complete answer (after partials it repeats the whole text, as ADK does)."""
        if self.typed:
            return frame({TYPE: TYPE_TEXT, "content": text})
        parts: list[dict[str, Any]] = []
        if thought:
            parts.append({"text": thought, "thought": True})
        parts.append({"text": text})
        body: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if streamed and not self.snake:
            body["partial"] = False
        body[self._k(FINISH_REASON)] = "STOP"
        words = max(len(text.split()), 1)
        body[self._k(USAGE_METADATA)] = {
            self._k(Field("candidatesTokenCount", "candidates_token_count")): words * 2,
            self._k(Field("promptTokenCount", "prompt_token_count")): 1834,
            self._k(Field("totalTokenCount", "total_token_count")): 1834 + words * 2,
        }
        return self._event(body)

    def error_event(self, code: str, message: str, text: str | None = None) -> bytes:
        """A model-level error event (``errorCode`` / ``errorMessage``), optionally with text."""
        if self.typed:
            return frame({TYPE: TYPE_TEXT, "content": text or message})
        body: dict[str, Any] = {}
        if text:
            body["content"] = {"parts": [{"text": text}], "role": "model"}
        body[self._k(ERROR_CODE)] = code
        body[self._k(ERROR_MESSAGE)] = message
        return self._event(body)

    def model_error(self, code: str, message: str) -> bytes:
        """The stream's last event is a model-level error (ADK: a non-STOP finish reason)."""
        if self.typed:
            return frame({TYPE: TYPE_ERROR, ERROR: {"code": code, "message": message}})
        body: dict[str, Any] = {
            self._k(FINISH_REASON): code,
            self._k(ERROR_CODE): code,
            self._k(ERROR_MESSAGE): message,
        }
        return self._event(body)

    @staticmethod
    def fatal_error_v2(error_type: str, message: str) -> bytes:
        """ADK 2.x: ``{"error": "Type: msg", "error_details": {...}}``."""
        return frame(
            {
                ERROR: f"{error_type}: {message}",
                ERROR_DETAILS.snake: {
                    ERROR_TYPE.snake: error_type,
                    ERROR_MESSAGE.snake: message,
                    "timestamp": time.time(),
                },
            }
        )

    @staticmethod
    def fatal_error_v1(message: str) -> bytes:
        """ADK 1.x: an f-string, so quotes in ``message`` make the frame invalid JSON."""
        return f'data: {{"error": "{message}"}}\n\n'.encode()
