"""TurnCondenser: reply text, steps, errors and progress notes, with a clock passed in."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemo_mcp.constants import MAX_REPLY_CHARS, PROGRESS_EVERY, STILL_WORKING_EVERY
from nemo_mcp.stream.condenser import (
    STILL_WORKING,
    ProgressNote,
    TurnCondenser,
    human_tool_name,
)
from nemo_mcp.stream.events import HEARTBEAT, AgentEvent, EventKind


def text(t: str) -> AgentEvent:
    return AgentEvent("text", text=t)


def partial(t: str) -> AgentEvent:
    return AgentEvent("partial_text", text=t, partial=True)


def call(name: str, call_id: str = "") -> AgentEvent:
    return AgentEvent("tool_call", tool=name, call_id=call_id)


def run(*events: AgentEvent) -> TurnCondenser:
    c = TurnCondenser(start=0.0)
    for i, event in enumerate(events):
        c.feed(event, float(i) * 0.1)
    return c


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("generate_video", "generating video"),
        ("generate_video_with_seedance", "generating video"),
        ("seedance_v2_pro", "generating video"),
        ("generate_music", "generating music"),
        ("suno", "generating music"),
        ("call_suno_api", "generating music"),
        ("edit_multitrack", "editing the timeline"),
        ("editMultitrack", "editing the timeline"),
        ("add_title", "adding a title"),
        ("add_text", "adding a title"),
        ("apply_color_grade", "apply color grade"),
        ("normalizeLoudness", "normalize loudness"),
        ("transfer_to_agent", "handing over to another agent"),
        ("", "using a tool"),
        ("\x1b[31m<script>", "31mscript"),
        ("a" * 500, "a" * 64),
    ],
)
def test_human_tool_names(name: str, words: str) -> None:
    assert human_tool_name(name) == words


def test_partials_are_replaced_by_the_final_text() -> None:
    c = run(partial("Sure! "), partial("I'll do it."), text("Sure! I'll do it."))
    r = c.result()
    assert r.reply_text == "Sure! I'll do it."
    assert r.partial_text == ""
    assert r.had_reply


def test_partials_without_final_stay_partial() -> None:
    r = run(text("First."), partial("Sec"), partial("ond")).result()
    assert (r.reply_text, r.partial_text) == ("First.", "Second")


def test_consecutive_duplicate_final_text_is_dropped() -> None:
    assert run(text("Done."), text("Done.")).result().reply_text == "Done."
    assert run(text("A"), text("B"), text("A")).result().reply_text == "A\n\nB\n\nA"


def test_thoughts_never_reach_the_reply() -> None:
    r = run(AgentEvent("thought", text="secret plan"), text("Answer")).result()
    assert r.reply_text == "Answer"


@pytest.mark.parametrize(
    ("texts", "reply"),
    [
        (["Added the music.", "I encountered a temporary issue."], "Added the music."),
        (
            ["Added.", "I encountered a temporary issue.", "I encountered a temporary problem!"],
            "Added.",
        ),
        (["I encountered a temporary issue."], "I encountered a temporary issue."),
        (
            ["I encountered a temporary issue.", "Now it worked."],
            "I encountered a temporary issue.\n\nNow it worked.",
        ),
        (
            ["A.", "I encountered a temporary issue.", "B."],
            "A.\n\nI encountered a temporary issue.\n\nB.",
        ),
        (["已添加音乐。", "我遇到了临时问题，请稍后再试。"], "已添加音乐。"),
    ],
)
def test_trailing_temporary_issue(texts: list[str], reply: str) -> None:
    assert run(*(text(t) for t in texts)).result().reply_text == reply


def test_control_characters_and_ansi_are_stripped() -> None:
    r = run(text("Hi\x1b[31m red\x1b[0m\x00\x07 there\r\nnext\u202eline\tok")).result()
    assert r.reply_text == "Hi red there\nnext" + "line\tok"


def test_reply_is_capped() -> None:
    c = TurnCondenser(start=0.0, max_reply_chars=100)
    for i in range(50):
        c.feed(text(f"paragraph {i} " + "x" * 30), float(i))
    r = c.result()
    assert len(r.reply_text) <= 100
    assert r.reply_text.endswith("[reply truncated]")
    c2 = TurnCondenser(start=0.0)
    c2.feed(text("y" * (MAX_REPLY_CHARS * 2)), 0.0)
    capped = c2.result().reply_text
    assert len(capped) <= MAX_REPLY_CHARS
    assert capped.startswith("y" * 1000) and capped.endswith("[reply truncated]")


def test_partial_buffer_is_capped() -> None:
    c = TurnCondenser(start=0.0, max_reply_chars=50)
    for i in range(100):
        c.feed(partial("abcdefghij"), float(i))
    assert len(c.result().partial_text) == 50


def test_steps_fold_consecutive_repeats_and_call_ids() -> None:
    r = run(
        call("edit_multitrack", "a"),
        call("edit_multitrack", "b"),
        call("generate_video", "c"),
        call("generate_video", "c"),  # the same call repeated by an aggregated event
        call("edit_multitrack", "d"),
        AgentEvent("tool_result", tool="edit_multitrack", failed=True),
    ).result()
    assert r.steps == [
        "editing the timeline",
        "generating video",
        "editing the timeline",
        "editing the timeline failed",
    ]
    assert r.tool_calls == 4


def test_errors_and_failure_rules() -> None:
    fatal = run(AgentEvent("error", text="ValueError: boom", code="ValueError")).result()
    assert fatal.failed and fatal.errors == ["ValueError: boom"]
    after_reply = run(text("Done."), AgentEvent("error", text="late")).result()
    assert not after_reply.failed and after_reply.errors == ["late"]
    model = run(AgentEvent("model_error", text="Malformed", code="MALFORMED")).result()
    assert model.failed and model.errors == ["MALFORMED: Malformed"]
    resolved = run(
        AgentEvent("model_error", text="x", code="E"), AgentEvent("tool_result")
    ).result()
    assert not resolved.failed


def test_error_text_is_redacted_and_single_line() -> None:
    r = run(AgentEvent("error", text="bad token nmv_usr_abcdefghijkl\nsecond line")).result()
    assert r.errors == ["bad token nmv_usr_[redacted] second line"]


def test_state_keys_and_counts() -> None:
    r = run(
        HEARTBEAT,
        AgentEvent("state_delta", keys=("draft",)),
        AgentEvent("state_delta", keys=("video_infos", "draft")),
        HEARTBEAT,
    ).result()
    assert r.touched_state and r.touched_keys == ["draft", "video_infos"]
    assert (r.events_seen, r.heartbeats) == (4, 2)


# --- progress notes ------------------------------------------------------------------------------
def test_step_and_text_notes() -> None:
    c = TurnCondenser(start=0.0)
    notes = c.feed(call("generate_video_with_seedance"), 1.0)
    assert notes == [ProgressNote("Generating video...", None, "step")]
    notes = c.feed(text("I'll generate it now."), 2.0)
    assert [(n.kind, n.message) for n in notes] == [("text", "Agent: I'll generate it now.")]


def test_partial_text_notes_are_rate_limited() -> None:
    c = TurnCondenser(start=0.0, min_note_interval=1.0)
    sent = []
    for i in range(100):  # 100 partials in 5 seconds
        sent += [n for n in c.feed(partial(f"w{i} "), i * 0.05) if n.kind == "text"]
    assert 4 <= len(sent) <= 6
    assert sent[-1].message.startswith("Agent: ")


def test_event_notes_share_one_rate_limit_but_errors_always_pass() -> None:
    c = TurnCondenser(start=0.0, min_note_interval=1.0)
    notes: list[ProgressNote] = []
    names = ["generate_video", "add_title", "generate_music", "edit_multitrack"]
    for i in range(40):  # 40 alternating steps within 2 seconds
        notes += c.feed(call(names[i % 4]), i * 0.05)
    notes += c.feed(AgentEvent("error", text="boom"), 2.0)
    notes += c.feed(AgentEvent("model_error", text="again", code="X"), 2.01)
    assert len([n for n in notes if n.kind == "step"]) <= 3
    assert [n.message for n in notes if n.kind == "error"] == [
        "Agent error: boom",
        "Agent error: X: again",
    ]
    assert len(c.result().steps) == 40  # every step is still in the summary


def test_notes_keep_flowing_while_the_backend_works() -> None:
    """A note at least every PROGRESS_EVERY s and a 'Still working' every STILL_WORKING_EVERY s."""
    c = TurnCondenser(start=100.0)
    c.feed(call("generate_video"), 100.0)
    times: list[float] = []
    still: list[float] = []
    now = 100.0
    while now < 100.0 + 600:
        now += 1.0
        notes = c.feed(HEARTBEAT, now) if int(now) % 3 else c.tick(now)
        for note in notes:
            times.append(now)
            if note.kind == "still_working":
                still.append(now)
                assert note.message.startswith(STILL_WORKING)
                assert "generating video" in note.message
    gaps = [b - a for a, b in zip([100.0, *times], times, strict=False)]
    assert max(gaps) <= PROGRESS_EVERY
    assert still[0] == 100.0 + STILL_WORKING_EVERY
    assert [b - a for a, b in itertools.pairwise(still)] == [STILL_WORKING_EVERY] * (len(still) - 1)
    assert len(still) == 5


def test_tick_before_due_is_silent() -> None:
    c = TurnCondenser(start=0.0, progress_every=10.0)
    assert c.tick(9.9) == []
    (note,) = c.tick(10.0)
    assert note.kind == "working" and "10 s" in note.message
    assert c.tick(15.0) == []


def _event(kind: EventKind, text: str = "", tool: str = "") -> AgentEvent:
    return AgentEvent(kind, text=text, tool=tool)


@settings(max_examples=150)
@given(
    st.lists(
        st.one_of(
            st.builds(_event, st.just("text"), st.text(max_size=300)),
            st.builds(_event, st.just("partial_text"), st.text(max_size=50)),
            st.builds(_event, st.just("thought"), st.text(max_size=50)),
            st.builds(_event, st.just("tool_call"), tool=st.text(max_size=30)),
            st.builds(_event, st.just("error"), st.text(max_size=30)),
            st.just(HEARTBEAT),
        ),
        max_size=40,
    )
)
def test_any_event_sequence_gives_a_clean_capped_reply(events: list[AgentEvent]) -> None:
    c = TurnCondenser(start=0.0, max_reply_chars=500)
    for i, event in enumerate(events):
        c.feed(event, float(i))
    r = c.result()
    assert len(r.reply_text) <= 500
    assert not any(ch in r.reply_text for ch in "\x00\x1b\r\u202e")
    assert r.had_reply == bool(r.reply_text) or r.reply_text == ""
    for step in r.steps:
        assert step and "\n" not in step


def test_an_error_after_the_agent_started_working_fails_the_turn() -> None:
    """Text said before the last tool call does not make a turn that ends in an error a success."""
    started = run(
        text("Sure! Generating now."), call("generate_video"), AgentEvent("error", text="boom")
    )
    assert started.result().failed
    model = run(
        text("On it."), call("edit_multitrack"), AgentEvent("model_error", text="bad", code="E")
    )
    assert model.result().failed
    closing = run(
        call("edit_multitrack"),
        text("Done."),
        AgentEvent("model_error", text="cut", code="MAX_TOKENS"),
    )
    assert not closing.result().failed and closing.result().errors == ["MAX_TOKENS: cut"]
