"""``POST /run_sse``: the request, and the fields of the events its stream carries.

The request is an ADK run request (``app_name``, ``user_id``, ``session_id``, ``new_message``
with text ``parts``); the answer a ``text/event-stream`` of ``data: <json>`` frames with no
``event:`` or ``id:`` lines and no terminator. Three dialects are in use:

- ADK events, camelCase (ADK >= 0.5) or snake_case (ADK 0.1-0.4): ``content.parts[]`` with
  ``text`` / ``thought`` / ``functionCall`` / ``functionResponse``; ``partial``;
  ``actions.stateDelta``; ``errorCode`` + ``errorMessage``; ``longRunningToolIds``. A ``Field``
  names a field in both spellings;
- the typed dialect: ``{"type": "text" | "tool_call" | "tool_result" | "heartbeat" | "error"}``;
- fatal error frames: ADK 2.x ``{"error": "Type: msg", "error_details": {...}}`` and ADK 1.x's
  f-string ``{"error": "<msg>"}`` (invalid JSON when the message has quotes).

Heartbeats come in four forms (``HEARTBEATS``).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from nemo_mcp.contract.paths import APP_NAME, USER_ID


class Field(NamedTuple):
    """An ADK event field in both spellings; ``*field`` unpacks to (camel, snake)."""

    camel: str
    snake: str

    def spelled(self, snake_case: bool) -> str:
        return self.snake if snake_case else self.camel


# --- the request ---------------------------------------------------------------------------
APP_NAME_FIELD: Final = Field("appName", "app_name")
USER_ID_FIELD: Final = Field("userId", "user_id")
SESSION_ID_FIELD: Final = Field("sessionId", "session_id")
NEW_MESSAGE_FIELD: Final = Field("newMessage", "new_message")
STREAMING: Final = "streaming"  # true: partial text events are welcome


def run_request(session_id: str, text: str) -> dict[str, Any]:
    """The run request, in the snake_case NemoVideo documents."""
    return {
        APP_NAME_FIELD.snake: APP_NAME,
        USER_ID_FIELD.snake: USER_ID,
        SESSION_ID_FIELD.snake: session_id,
        NEW_MESSAGE_FIELD.snake: {"parts": [{"text": text}]},
    }


def read_field(body: dict[str, Any], field: Field) -> Any:
    """A request field in either spelling (snake_case wins)."""
    return body.get(field.snake, body.get(field.camel))


def message_text(new_message: Any) -> str | None:
    """The text of a run request's ``new_message`` (its text parts joined), or None."""
    parts = new_message.get("parts") if isinstance(new_message, dict) else None
    if not isinstance(parts, list):
        return None
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "".join(texts)


# --- ADK events ----------------------------------------------------------------------------
FUNCTION_CALL: Final = Field("functionCall", "function_call")
FUNCTION_RESPONSE: Final = Field("functionResponse", "function_response")
LONG_RUNNING_TOOL_IDS: Final = Field("longRunningToolIds", "long_running_tool_ids")
STATE_DELTA: Final = Field("stateDelta", "state_delta")
ERROR_CODE: Final = Field("errorCode", "error_code")
ERROR_MESSAGE: Final = Field("errorMessage", "error_message")
INVOCATION_ID: Final = Field("invocationId", "invocation_id")
FINISH_REASON: Final = Field("finishReason", "finish_reason")
USAGE_METADATA: Final = Field("usageMetadata", "usage_metadata")
ARTIFACT_DELTA: Final = Field("artifactDelta", "artifact_delta")
REQUESTED_AUTH_CONFIGS: Final = Field("requestedAuthConfigs", "requested_auth_configs")

# --- the typed dialect ----------------------------------------------------------------------
TYPE: Final = "type"
TYPE_TEXT: Final = "text"
TYPE_TOOL_CALL: Final = "tool_call"
TYPE_TOOL_RESULT: Final = "tool_result"
TYPE_HEARTBEAT: Final = "heartbeat"
TYPE_ERROR: Final = "error"

# --- fatal error frames ---------------------------------------------------------------------
ERROR: Final = "error"
ERROR_DETAILS: Final = Field("errorDetails", "error_details")
ERROR_TYPE: Final = Field("errorType", "error_type")

# --- heartbeats -----------------------------------------------------------------------------
HEARTBEATS: Final[dict[str, bytes]] = {
    "comment": b": ping\n\n",
    "empty": b"data:\n\n",
    "json": b'data: {"type":"heartbeat"}\n\n',
    "text": b"data: heartbeat\n\n",
}
