"""parse_frame: both dialects, both casings, every heartbeat and error form; never raises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemo_mcp.stream.events import AgentEvent, parse_data, parse_frame
from nemo_mcp.stream.sse import SSEFrame


def kinds(data: str | None, **kw: Any) -> list[str]:
    return [e.kind for e in parse_frame(SSEFrame(data=data, **kw))]


def one(obj: Any) -> AgentEvent:
    events = parse_frame(SSEFrame(data=json.dumps(obj)))
    assert len(events) == 1, events
    return events[0]


@pytest.mark.parametrize(
    "frame",
    [
        SSEFrame(is_comment=True, comment="ping"),
        SSEFrame(data=""),
        SSEFrame(data="   \t "),
        SSEFrame(data="heartbeat"),
        SSEFrame(data=" HEARTBEAT "),
        SSEFrame(data="ping"),
        SSEFrame(data='{"type":"heartbeat"}'),
        SSEFrame(data='{"type": "keepalive"}'),
        SSEFrame(data=None, id="3"),
        SSEFrame(data="anything", event="ping"),
    ],
)
def test_heartbeat_forms(frame: SSEFrame) -> None:
    assert [e.kind for e in parse_frame(frame)] == ["heartbeat"]


@pytest.mark.parametrize(
    ("part_key", "response_key", "delta_key", "lr_key", "code_key", "msg_key"),
    [
        (
            "functionCall",
            "functionResponse",
            "stateDelta",
            "longRunningToolIds",
            "errorCode",
            "errorMessage",
        ),
        (
            "function_call",
            "function_response",
            "state_delta",
            "long_running_tool_ids",
            "error_code",
            "error_message",
        ),
    ],
)
def test_adk_casings(
    part_key: str, response_key: str, delta_key: str, lr_key: str, code_key: str, msg_key: str
) -> None:
    call = {
        "content": {"parts": [{part_key: {"id": "adk-1", "name": "generate_video", "args": {}}}]},
        lr_key: ["adk-1"],
        "actions": {delta_key: {}},
    }
    (event,) = parse_frame(SSEFrame(data=json.dumps(call)))
    assert (event.kind, event.tool, event.call_id, event.long_running) == (
        "tool_call",
        "generate_video",
        "adk-1",
        True,
    )
    response = {
        "content": {
            "parts": [
                {
                    response_key: {
                        "id": "adk-1",
                        "name": "generate_video",
                        "response": {"status": "error", "error": "x"},
                    }
                }
            ]
        },
        "actions": {delta_key: {"draft": {"t": []}, "video_infos": []}},
    }
    got = parse_frame(SSEFrame(data=json.dumps(response)))
    assert [e.kind for e in got] == ["tool_result", "state_delta"]
    assert got[0].failed is True
    assert got[1].keys == ("draft", "video_infos")
    err = {
        "content": {"parts": [{"text": "partial answer"}]},
        code_key: "MAX_TOKENS",
        msg_key: "too long",
    }
    got = parse_frame(SSEFrame(data=json.dumps(err)))
    assert [(e.kind, e.text) for e in got] == [
        ("text", "partial answer"),
        ("model_error", "too long"),
    ]
    assert got[1].code == "MAX_TOKENS"


def test_text_thought_and_partial() -> None:
    final = {
        "content": {
            "parts": [{"text": "hmm", "thought": True}, {"text": "Hello "}, {"text": "world"}],
            "role": "model",
        },
        "partial": False,
    }
    got = parse_frame(SSEFrame(data=json.dumps(final)))
    assert [(e.kind, e.text) for e in got] == [("thought", "hmm"), ("text", "Hello world")]
    partial = {"content": {"parts": [{"text": "Hel"}]}, "partial": True}
    assert one(partial) == AgentEvent("partial_text", text="Hel", partial=True)


def test_state_delta_at_top_level_and_empty_actions() -> None:
    assert one({"stateDelta": {"draft": {}}}).kind == "state_delta"
    empty = one({"author": "nemo_agent", "actions": {"stateDelta": {}, "artifactDelta": {}}})
    assert empty.kind == "unknown"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"type": "text", "content": "Hi"}, ("text", "Hi", "")),
        ({"type": "text", "text": "Hi", "partial": True}, ("partial_text", "Hi", "")),
        ({"type": "delta", "delta": "H"}, ("partial_text", "H", "")),
        ({"type": "thinking", "content": "plan"}, ("thought", "plan", "")),
        ({"type": "tool_call", "name": "suno", "args": {}}, ("tool_call", "", "suno")),
        ({"type": "tool_result", "name": "suno", "result": {}}, ("tool_result", "", "suno")),
        ({"type": "TOOL_CALL", "tool_name": "add_title"}, ("tool_call", "", "add_title")),
        ({"type": "error", "message": "boom"}, ("error", "boom", "")),
        ({"type": "error", "error": {"message": "quota", "code": 2001}}, ("error", "quota", "")),
        ({"type": "state_delta", "delta": {"draft": {}}}, ("state_delta", "", "")),
        ({"type": "done"}, ("unknown", "type done", "")),
        ({"type": "text", "content": 42}, ("unknown", "type text", "")),
        ({"type": "x", "content": {"parts": []}}, ("unknown", "event with content, type", "")),
    ],
)
def test_typed_dialect(obj: dict[str, Any], expected: tuple[str, str, str]) -> None:
    event = one(obj)
    assert (event.kind, event.text, event.tool) == expected


@pytest.mark.parametrize(
    ("data", "text", "code"),
    [
        (
            '{"error": "ValueError: Session not found: 123"}',
            "ValueError: Session not found: 123",
            "",
        ),
        (
            json.dumps(
                {
                    "error": "ValueError: x",
                    "error_details": {
                        "error_type": "ValueError",
                        "error_message": "x",
                        "timestamp": 1.0,
                    },
                }
            ),
            "ValueError: x",
            "ValueError",
        ),
        ('{"error": ""}', "unspecified error", ""),
        ('{"error": null, "errorDetails": {"errorMessage": "deep"}}', "deep", ""),
        ('{"error": {"message": "m", "code": "E1"}}', "m", "E1"),
        # ADK 1.x f-string frames: invalid JSON.
        ('{"error": "Tool "x" failed"}', 'Tool "x" failed', ""),
        ('{"error": "unterminated \\ and "quotes', 'unterminated \\ and "quotes', ""),
        ('  {  "error" :  "spaced "odd" one" }  ', 'spaced "odd" one', ""),
    ],
)
def test_error_frames(data: str, text: str, code: str) -> None:
    (event,) = parse_frame(SSEFrame(data=data))
    assert (event.kind, event.text, event.code) == ("error", text, code)


@pytest.mark.parametrize(
    "data",
    ["{not json", "[1, 2, 3]", "42", '"a string"', "null", '{"partial": true', "[[[[[[", "data"],
)
def test_malformed_is_unknown(data: str) -> None:
    assert kinds(data) == ["unknown"]


def test_deep_nesting_does_not_raise() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert kinds(deep) == ["unknown"]
    nested = '{"content": {"parts": [{"text": "x"}]}, "actions": {"stateDelta": ' + deep + "}}"
    assert kinds(nested) in (["text"], ["unknown"])


def test_model_error_needs_a_non_empty_code() -> None:
    assert kinds(json.dumps({"content": {"parts": [{"text": "ok"}]}, "errorCode": ""})) == ["text"]
    assert kinds(json.dumps({"errorCode": 0, "content": {"parts": [{"text": "ok"}]}})) == ["text"]
    assert kinds(json.dumps({"errorCode": 500})) == ["model_error"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "content",
                    "parts",
                    "text",
                    "thought",
                    "partial",
                    "functionCall",
                    "function_call",
                    "functionResponse",
                    "name",
                    "id",
                    "args",
                    "response",
                    "actions",
                    "stateDelta",
                    "errorCode",
                    "errorMessage",
                    "error",
                    "error_details",
                    "type",
                    "longRunningToolIds",
                    "status",
                    "delta",
                    "result",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=400)
@given(_JSON)
def test_arbitrary_json_never_raises(obj: Any) -> None:
    events = parse_data(json.dumps(obj))
    assert events
    assert all(isinstance(e, AgentEvent) for e in events)


@settings(max_examples=300)
@given(st.text(max_size=200), st.none() | st.text(max_size=10))
def test_arbitrary_text_never_raises(data: str, event: str | None) -> None:
    assert parse_frame(SSEFrame(data=data, event=event))
