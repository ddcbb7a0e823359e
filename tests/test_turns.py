"""run_turn with fake streams, a fake clock and a fake sleep: every outcome, instantly.

Every scenario checks that the stream was opened exactly once: a resent message would run (and
be charged) twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from nemo_mcp.errors import InsufficientCreditsError, SessionNotFoundError, TransportError
from nemo_mcp.stream.condenser import ProgressNote
from nemo_mcp.stream.gui import translate
from nemo_mcp.studio.settle import TurnOutcome
from nemo_mcp.studio.turns import TurnLimits, run_turn
from support import corpus


def _state(*tracks: dict[str, Any], uploads: int = 1) -> dict[str, Any]:
    return {
        "session_id": "s1",
        "state": {
            "draft": {"t": list(tracks), "m": {"width": 1920, "height": 1080}} if tracks else None,
            "video_infos": [{"id": f"v{i}"} for i in range(uploads)],
            "generated_media": [],
            "canvas_config": {},
        },
    }


VIDEO = {"tt": 0, "sg": [{"d": 10000, "name": "city timelapse"}]}
BGM = {"tt": 1, "sg": [{"d": 10000, "name": "Lo-fi", "volume": 0.35}]}
TITLE = {"tt": 7, "sg": [{"s": 0, "d": 3000, "text": "Urban Dreams"}]}
BEFORE = _state(VIDEO, BGM)
AFTER = _state(VIDEO, BGM, TITLE)


def frame(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def text(t: str) -> bytes:
    return frame({"content": {"parts": [{"text": t}], "role": "model"}, "author": "nemo_agent"})


def tool_call(name: str = "edit_multitrack") -> bytes:
    return frame({"content": {"parts": [{"functionCall": {"name": name, "args": {}}}]}})


HEARTBEAT = b": ping\n\n"


@dataclass
class Fake:
    """A scripted turn: the stream's chunks, what the state reads return, a fake clock."""

    chunks: Iterable[bytes | float | BaseException] = ()
    states: list[Mapping[str, Any] | BaseException] = field(default_factory=list)
    step: float = 1.0  # fake seconds that pass per chunk
    now: float = 1000.0
    opened: int = 0
    reads: int = 0
    sleeps: list[float] = field(default_factory=list)
    notes: list[ProgressNote] = field(default_factory=list)
    closed: bool = False

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()

    def open_stream(self) -> Any:
        self.opened += 1

        @asynccontextmanager
        async def ctx() -> AsyncIterator[AsyncIterator[bytes]]:
            async def body() -> AsyncIterator[bytes]:
                for item in self.chunks:
                    if isinstance(item, BaseException):
                        raise item
                    if isinstance(item, float):
                        await anyio.sleep(item)  # real time: for the real-time guards
                        continue
                    self.now += self.step
                    yield item

            try:
                yield body()
            finally:
                self.closed = True

        return ctx()

    async def read_state(self) -> Mapping[str, Any]:
        self.reads += 1
        if not self.states:
            raise AssertionError("unexpected state read")
        item = self.states[0] if len(self.states) == 1 else self.states.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    async def on_progress(self, note: ProgressNote) -> None:
        self.notes.append(note)

    async def run(self, **kw: Any) -> TurnOutcome:
        kw.setdefault("before", BEFORE)
        try:
            return await run_turn(
                open_stream=self.open_stream,
                read_state=self.read_state,
                on_progress=self.on_progress,
                clock=self.clock,
                sleep=self.sleep,
                **kw,
            )
        finally:
            assert self.opened == 1, "the stream must be opened exactly once"


def _notes(fake: Fake, kind: str) -> list[str]:
    return [n.message for n in fake.notes if n.kind == kind]


# --- clean endings -------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_replied() -> None:
    fake = Fake(
        chunks=[text("Adding a title."), tool_call("add_title"), text("Done! Click Export.")],
        states=[AFTER],
    )
    out = await fake.run()
    assert out.status == "replied"
    assert out.reply_text == "Adding a title.\n\nDone! Call `nemo_export`."
    assert out.steps == ["adding a title"]
    assert out.changes == ['added title "Urban Dreams" 0-3 s']
    assert out.timeline_summary is not None and out.timeline_summary.startswith("Timeline (3")
    assert out.export_ready is True
    assert out.state_after == AFTER
    assert out.duration_s == pytest.approx(3.0)
    assert fake.reads == 1 and fake.closed
    assert "Adding a title..." in _notes(fake, "step")


@pytest.mark.anyio
async def test_replied_cli_face() -> None:
    fake = Fake(chunks=[text("Preview it in the timeline.")], states=[BEFORE])
    out = await fake.run(face="cli")
    assert out.reply_text == "Check the timeline with `nemo-mcp state`."
    assert out.changes == []


@pytest.mark.anyio
async def test_silent_changed() -> None:
    fake = Fake(chunks=[tool_call(), HEARTBEAT, tool_call("add_text")], states=[AFTER])
    out = await fake.run()
    assert out.status == "silent_changed"
    assert out.reply_text == ""
    assert out.changes == ['added title "Urban Dreams" 0-3 s']
    assert out.steps == ["editing the timeline", "adding a title"]


@pytest.mark.anyio
async def test_silent_unchanged() -> None:
    fake = Fake(chunks=[tool_call()], states=[BEFORE])
    out = await fake.run()
    assert out.status == "silent_unchanged"
    assert out.changes == []


@pytest.mark.anyio
async def test_silent_with_unreadable_state() -> None:
    fake = Fake(chunks=[tool_call()], states=[TransportError("down")])
    out = await fake.run()
    assert out.status == "silent_unchanged"
    assert out.state_after is None and out.timeline_summary is None
    assert fake.reads == 2  # one retry, then it says it could not check


@pytest.mark.anyio
async def test_partial_text_only_counts_as_the_reply() -> None:
    partial = frame({"content": {"parts": [{"text": "Half an answer"}]}, "partial": True})
    fake = Fake(chunks=[partial], states=[BEFORE])
    out = await fake.run()
    assert (out.status, out.reply_text) == ("replied", "Half an answer")


@pytest.mark.anyio
async def test_error_frame_fails() -> None:
    error = b'data: {"error": "ValueError: Session "s1" broke"}\n\n'
    fake = Fake(chunks=[tool_call(), error, text("never read")], states=[BEFORE])
    out = await fake.run()
    assert out.status == "failed"
    assert out.errors == ['ValueError: Session "s1" broke']
    assert fake.reads == 1
    assert out.reply_text == ""  # reading stopped at the fatal frame


@pytest.mark.anyio
async def test_error_frame_after_a_real_reply_is_not_a_failure() -> None:
    fake = Fake(chunks=[text("All done."), frame({"error": "late"})], states=[BEFORE])
    out = await fake.run()
    assert out.status == "replied"
    assert out.errors == ["late"]


@pytest.mark.anyio
async def test_model_error_fails_unless_resolved() -> None:
    bad = frame({"errorCode": "MALFORMED_FUNCTION_CALL", "errorMessage": "Malformed"})
    failed = await Fake(chunks=[bad], states=[BEFORE]).run()
    assert failed.status == "failed"
    resolved = await Fake(chunks=[bad, text("Fixed it.")], states=[BEFORE]).run()
    assert resolved.status == "replied"


# --- drops and recovery --------------------------------------------------------------------------
@pytest.mark.anyio
async def test_drop_then_recovered() -> None:
    fake = Fake(
        chunks=[
            text("Generating..."),
            tool_call("generate_video"),
            httpx.RemoteProtocolError("peer closed connection"),
        ],
        states=[BEFORE, BEFORE, AFTER],
    )
    out = await fake.run()
    assert out.status == "recovered"
    assert all(m.startswith("connection dropped") for m in _notes(fake, "recovery"))
    assert out.changes == ['added title "Urban Dreams" 0-3 s']
    assert out.reply_text == "Generating..."
    assert fake.reads == 3
    assert sum(fake.sleeps) == pytest.approx(30 + 60 + 60)
    recovery = _notes(fake, "recovery")
    assert any("(1/5)" in m for m in recovery) and any("(3/5)" in m for m in recovery)
    assert any("checking the timeline (2/5)" in m for m in recovery)
    assert fake.closed
    assert "the message is not resent" in _notes(fake, "recovery")[0]


@pytest.mark.anyio
async def test_drop_then_lost_after_five_unchanged_reads() -> None:
    fake = Fake(chunks=[tool_call(), TransportError("cut")], states=[BEFORE])
    out = await fake.run(face="cli")
    assert out.status == "lost"
    assert fake.reads == 5
    assert sum(fake.sleeps) == pytest.approx(30 + 4 * 60)
    assert max(fake.sleeps) <= 10.0  # waits are sliced so progress keeps flowing
    assert "the message is not resent" in _notes(fake, "recovery")[0]
    assert out.changes == []
    assert out.state_after == BEFORE
    # A note at least every PROGRESS_EVERY seconds of (fake) waiting.
    assert len(_notes(fake, "recovery")) >= 270 / 10


@pytest.mark.anyio
async def test_recovery_reads_that_fail_count_as_unchanged() -> None:
    fake = Fake(
        chunks=[httpx.ReadError("reset")],
        states=[TransportError("503"), RuntimeError("weird"), AFTER],
    )
    out = await fake.run()
    assert out.status == "recovered"
    assert fake.reads == 3


@pytest.mark.anyio
async def test_recovery_all_reads_failing_is_lost() -> None:
    fake = Fake(chunks=[httpx.ReadError("reset")], states=[TransportError("down")])
    out = await fake.run()
    assert out.status == "lost"
    assert out.state_after is None
    assert fake.reads == 5


@pytest.mark.anyio
async def test_heartbeats_only_for_too_long_is_idle() -> None:
    def forever() -> Iterable[bytes]:
        yield tool_call("generate_video")
        while True:
            yield HEARTBEAT

    fake = Fake(chunks=forever(), states=[AFTER], step=30.0)
    out = await fake.run()
    assert out.status == "recovered"
    assert _notes(fake, "recovery")[0].startswith("the stream went quiet")
    assert fake.closed
    assert any(m.startswith("⏳ Still working...") for m in _notes(fake, "still_working"))


@pytest.mark.anyio
async def test_overall_cap_by_clock() -> None:
    def busy() -> Iterable[bytes]:
        while True:  # the agent keeps doing things, never finishes
            yield tool_call("generate_video")
            yield text("still going")

    fake = Fake(chunks=busy(), states=[BEFORE], step=60.0)
    out = await fake.run(limits=TurnLimits(max_seconds=900.0))
    assert out.status == "lost"
    assert _notes(fake, "recovery")[0].startswith("the turn hit its time limit")
    assert fake.closed


@pytest.mark.anyio
async def test_overall_cap_in_real_time_for_a_hung_stream() -> None:
    fake = Fake(chunks=[tool_call(), 3600.0], states=[AFTER])
    with anyio.fail_after(5):
        out = await fake.run(limits=TurnLimits(max_seconds=0.05))
    assert out.status == "recovered"
    assert _notes(fake, "recovery")[0].startswith("the turn hit its time limit")


@pytest.mark.anyio
async def test_socket_silence_is_idle() -> None:
    fake = Fake(chunks=[tool_call(), 3600.0], states=[BEFORE])
    with anyio.fail_after(5):
        out = await fake.run(limits=TurnLimits(silence_seconds=0.05))
    assert out.status == "lost"
    assert _notes(fake, "recovery")[0].startswith("the stream went quiet")


@pytest.mark.anyio
async def test_oversized_event_is_a_drop_not_a_resend() -> None:
    fake = Fake(chunks=[text("ok"), b"data: " + b"x" * 5000 + b"\n\n"], states=[AFTER])
    out = await fake.run(limits=TurnLimits(max_line_bytes=1024))
    assert out.status == "recovered"
    assert out.reply_text == "ok"


@pytest.mark.anyio
async def test_keepalive_ticker_reports_a_quiet_stream() -> None:
    fake = Fake(chunks=[tool_call("generate_video"), 0.2, text("done")], states=[BEFORE])
    out = await fake.run(limits=TurnLimits(progress_every=0.03))
    assert out.status == "replied"
    # The fake clock did not move while the stream was quiet, but the ticker still ran and
    # asked the condenser; with progress_every shrunk, notes were due.
    assert _notes(fake, "working")


@pytest.mark.anyio
async def test_a_failing_progress_callback_does_not_end_the_turn() -> None:
    fake = Fake(chunks=[tool_call(), text("Done.")], states=[BEFORE])

    async def broken(note: ProgressNote) -> None:
        raise RuntimeError("client went away")

    out = await run_turn(
        open_stream=fake.open_stream,
        read_state=fake.read_state,
        before=BEFORE,
        on_progress=broken,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert out.status == "replied"
    assert fake.opened == 1


# --- opening errors ------------------------------------------------------------------------------
@pytest.mark.anyio
@pytest.mark.parametrize(
    "error",
    [
        SessionNotFoundError("gone"),
        InsufficientCreditsError("no credits"),
        httpx.ConnectError("refused"),
    ],
)
async def test_errors_that_prove_nothing_ran_are_raised(error: Exception) -> None:
    fake = Fake(states=[BEFORE])

    def failing_open() -> Any:
        fake.opened += 1
        raise error

    with pytest.raises(type(error)):
        await run_turn(open_stream=failing_open, read_state=fake.read_state, before=BEFORE)
    assert fake.opened == 1 and fake.reads == 0


@pytest.mark.anyio
async def test_connect_error_wrapped_in_a_nemo_error_is_raised() -> None:
    fake = Fake(states=[BEFORE])

    @asynccontextmanager
    async def failing() -> AsyncIterator[AsyncIterator[bytes]]:
        fake.opened += 1
        try:
            raise httpx.ConnectTimeout("slow dns")
        except httpx.ConnectTimeout as exc:
            raise TransportError("Sending the message: the connection failed") from exc
        yield  # pragma: no cover

    with pytest.raises(TransportError):
        await run_turn(open_stream=failing, read_state=fake.read_state, before=BEFORE)
    assert fake.opened == 1 and fake.reads == 0


@pytest.mark.anyio
async def test_a_lost_answer_while_opening_is_recovered_not_resent() -> None:
    fake = Fake(states=[AFTER])

    @asynccontextmanager
    async def lost() -> AsyncIterator[AsyncIterator[bytes]]:
        fake.opened += 1
        try:
            raise httpx.ReadTimeout("no headers")
        except httpx.ReadTimeout as exc:
            raise TransportError("The message was sent but the answer was lost") from exc
        yield  # pragma: no cover

    out = await run_turn(
        open_stream=lost,
        read_state=fake.read_state,
        before=BEFORE,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    assert out.status == "recovered"
    assert fake.opened == 1


# --- cancellation --------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_cancellation_while_streaming_propagates() -> None:
    fake = Fake(chunks=[tool_call(), 3600.0], states=[BEFORE])
    with anyio.move_on_after(0.05) as scope:
        await fake.run()
    assert scope.cancelled_caught
    assert fake.reads == 0  # no recovery was started
    assert fake.closed


@pytest.mark.anyio
async def test_cancellation_during_recovery_propagates() -> None:
    fake = Fake(chunks=[httpx.ReadError("cut")], states=[BEFORE])

    async def slow_sleep(seconds: float) -> None:
        await anyio.sleep(3600)

    with anyio.move_on_after(0.05) as scope:
        await run_turn(
            open_stream=fake.open_stream,
            read_state=fake.read_state,
            before=BEFORE,
            sleep=slow_sleep,
        )
    assert scope.cancelled_caught
    assert fake.opened == 1 and fake.reads == 0


# --- the corpus, end to end ----------------------------------------------------------------------
@pytest.mark.anyio
@pytest.mark.parametrize("name", corpus.names())
async def test_corpus_through_run_turn(name: str) -> None:
    raw, expected = corpus.load(name)
    chunks: list[bytes | float | BaseException] = [raw[i : i + 97] for i in range(0, len(raw), 97)]
    if expected.get("dropped"):
        chunks.append(httpx.RemoteProtocolError("peer closed connection without response"))
    fake = Fake(chunks=chunks, states=[BEFORE])
    out = await fake.run()
    assert out.status == expected["turn_status"]
    assert out.steps == expected["steps"]
    assert out.errors == expected["errors"]
    said = expected["reply_text"] or expected["partial_text"]
    assert out.reply_text == (translate(said, "mcp").text if said else "")
    assert out.question == expected.get("question")
    assert out.options == expected.get("options", [])


def test_limits_default_to_the_contract() -> None:
    limits = TurnLimits()
    assert (limits.max_seconds, limits.idle_seconds) == (900.0, 600.0)
    assert (limits.recovery_first_wait, limits.recovery_next_wait) == (30.0, 60.0)
    assert limits.recovery_max_unchanged == 5
