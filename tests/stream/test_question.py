"""The agent's questions: recognised by the tool's name (or a long-running call with a question),
read from every argument shape, cleaned and capped; and how a turn's open question is tracked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemo_mcp.stream.condenser import TurnCondenser
from nemo_mcp.stream.events import AgentEvent
from nemo_mcp.stream.question import (
    MAX_OPTION_CHARS,
    MAX_OPTIONS,
    MAX_QUESTION_CHARS,
    is_answer,
    is_question_tool,
    read_question,
)

RATIOS = ["16:9 (landscape)", "9:16 (vertical)", "1:1 (square)"]


@pytest.mark.parametrize(
    ("name", "is_question"),
    [
        ("ask_question", True),
        ("askQuestion", True),
        ("ask_user", True),
        ("AskUserQuestion", True),
        ("request_user_input", True),
        ("clarify", True),
        ("get_human_input", True),
        ("generate_video", False),
        ("create_task", False),  # "ask" inside a word is not a question
        ("mask_background", False),
        ("edit_multitrack", False),
    ],
)
def test_question_tools_by_name(name: str, is_question: bool) -> None:
    assert is_question_tool(name) is is_question


@pytest.mark.parametrize(
    "args",
    [
        {"question": "Which aspect ratio?", "options": RATIOS},
        {"prompt": "Which aspect ratio?", "choices": [{"label": r} for r in RATIOS]},
        {
            "message": "Which aspect ratio?",
            "answers": [{"value": r, "id": i} for i, r in enumerate(RATIOS)],
        },
        {"questions": [{"question": "Which aspect ratio?", "options": RATIOS}]},
        json.dumps({"question": "Which aspect ratio?", "options": RATIOS}),
        {
            "question": "Which aspect ratio?",
            "options": {"a": RATIOS[0], "b": RATIOS[1], "c": RATIOS[2]},
        },
    ],
)
def test_question_and_options_from_every_shape(args: Any) -> None:
    question = read_question("ask_question", args)
    assert question is not None
    assert question.text == "Which aspect ratio?"
    assert question.options == RATIOS


def test_a_long_running_call_holding_a_question_is_one() -> None:
    args = {"question": "Shall I add subtitles?", "options": ["yes", "no"]}
    assert read_question("confirm_step", args) is None
    question = read_question("confirm_step", args, long_running=True)
    assert question is not None and question.options == ["yes", "no"]
    assert read_question("generate_video", {"prompt": "x"}, long_running=True) is None


def test_questions_are_cleaned_and_capped() -> None:
    evil = 'Pick\x1b[31m one\u202e "now"\nNext: nemo_export()' + "x" * 2000
    options = ["a\nb", "", None, True, 3, "dup", "dup", *(f"o{i}" for i in range(40))]
    question = read_question("ask_question", {"question": evil, "options": options})
    assert question is not None
    assert "\n" not in question.text and "\x1b" not in question.text and '"' not in question.text
    assert "\u202e" not in question.text
    assert question.text.startswith("Pick one 'now' Next: nemo_export()")
    assert len(question.text) == MAX_QUESTION_CHARS and question.text.endswith("…")
    assert question.options[:4] == ["a b", "3", "dup", "o0"]
    assert len(question.options) == MAX_OPTIONS


def test_a_question_call_with_no_text_still_waits() -> None:
    question = read_question("ask_question", {})
    assert question is not None and question.text == "" and question.options == []


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.text(max_size=50) | st.integers(),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    ["question", "options", "questions", "label", "prompt", "choices", "x"]
                ),
                c,
                max_size=4,
            )
        ),
        max_leaves=20,
    )
)
def test_any_arguments_never_raise(args: Any) -> None:
    question = read_question("ask_question", args)
    assert question is not None
    assert len(question.text) <= MAX_QUESTION_CHARS
    assert len(question.options) <= MAX_OPTIONS
    assert all(0 < len(o) <= MAX_OPTION_CHARS and "\n" not in o for o in question.options)


def test_answers() -> None:
    assert is_answer({"answer": "9:16"}) and is_answer('{"selected": "a"}')
    assert not is_answer({"status": "pending"}) and not is_answer(None)


# --- the open question of a turn ------------------------------------------------------------------
def _feed(*events: AgentEvent) -> TurnCondenser:
    c = TurnCondenser(start=0.0)
    for i, event in enumerate(events):
        c.feed(event, i * 0.1)
    return c


ASK = AgentEvent(
    "tool_call",
    tool="ask_question",
    call_id="q1",
    payload={"question": "Which ratio?", "options": RATIOS},
    long_running=True,
)


def test_a_question_left_open_is_the_turns_question() -> None:
    pending = AgentEvent(
        "tool_result", tool="ask_question", call_id="q1", payload={"status": "pending"}
    )
    c = _feed(AgentEvent("text", text="One question first."), ASK, pending)
    summary = c.result()
    assert (summary.question, summary.options) == ("Which ratio?", RATIOS)
    assert summary.reply_text == "One question first." and not summary.failed
    assert summary.steps == ["asking you a question"]


def test_a_question_the_agent_moved_past_is_not_open() -> None:
    went_on = _feed(ASK, AgentEvent("tool_call", tool="generate_video", call_id="g1"))
    assert went_on.result().question is None
    answered = _feed(
        ASK,
        AgentEvent("tool_result", tool="ask_question", call_id="q1", payload={"answer": "9:16"}),
    )
    assert answered.result().question is None


def test_the_question_note_is_relayed_at_once() -> None:
    c = TurnCondenser(start=0.0)
    c.feed(AgentEvent("tool_call", tool="analyze_video"), 0.0)
    notes = c.feed(ASK, 0.01)  # well within the minimum interval between notes
    assert any(n.kind == "question" and "Which ratio?" in n.message for n in notes)
