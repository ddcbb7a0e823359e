"""One chat turn, from the stream to an outcome a person can act on. All I/O is injected.

:func:`run_turn` opens the agent stream exactly once (a resent message would run, and be charged,
twice), condenses it, reads the session state afterwards and decides:

==================  =============================================================================
``replied``         the stream closed cleanly and the agent said something
``silent_changed``  closed cleanly without text, and the timeline changed (about 30 % of edits)
``silent_unchanged`` closed cleanly without text, and nothing visible changed
``failed``          the stream ended in an error: an error frame, or a model error (``errorCode``)
                    that nothing after it resolved (see ``condense.condenser``)
``awaiting_answer`` the agent asked the user a question (``ask_question``) and stopped for the
                    answer: the question and its options are on the outcome, nothing is finished
``recovered``       the stream dropped, stalled or ran out of time, and the timeline then changed
``lost``            the same, but the timeline stayed unchanged through every check
==================  =============================================================================

Drops, stalls and the overall cap are settled by the contract's recovery procedure (7.10): wait
``recovery_first_wait``, read state, and while nothing changed wait ``recovery_next_wait`` and
read again, up to ``recovery_max_unchanged`` reads. The message is never sent again.

Errors raised while *opening* the stream are re-raised when they prove the message never ran: a
``NemoError`` answer from the server (auth, session gone, credits, ...) or a connection that was
never made (``httpx.ConnectError`` / ``ConnectTimeout`` / ``PoolTimeout`` anywhere in the cause
chain). Anything else (a lost answer, a drop, ``StreamError``) leads to recovery. Cancellation
always propagates at once.

Time: ``clock`` measures elapsed time, idle time and the cap as seen by the stream, and ``sleep``
makes the recovery waits; both can be faked so tests run instantly. Two real-time guards back
them up because a stream that sends nothing cannot be checked against a clock: the socket-silence
timeout (``silence_seconds``) and a wall-clock cap (``max_seconds``), both from anyio's timers, and
a keep-alive ticker that emits a progress note every ``progress_every`` real seconds while the
stream is quiet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, aclosing
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import anyio
import httpx

from nemo_mcp.constants import (
    MAX_SSE_EVENT_BYTES,
    MAX_SSE_LINE_BYTES,
    PROGRESS_EVERY,
    RECOVERY_FIRST_WAIT,
    RECOVERY_MAX_UNCHANGED,
    RECOVERY_NEXT_WAIT,
    STILL_WORKING_EVERY,
    TURN_IDLE_SECONDS,
    TURN_MAX_SECONDS,
    TURN_SOCKET_READ_TIMEOUT,
)
from nemo_mcp.errors import NemoError, TransportError
from nemo_mcp.stream.condenser import ProgressNote, TurnCondenser, TurnSummary
from nemo_mcp.stream.events import parse_frame
from nemo_mcp.stream.gui import Face, SuggestedAction, translate
from nemo_mcp.stream.sse import IdleTimeout, iter_frames
from nemo_mcp.timeline.diff import diff_states
from nemo_mcp.timeline.model import Timeline

__all__ = ["TurnLimits", "TurnOutcome", "TurnStatus", "run_turn"]

log = logging.getLogger(__name__)

TurnStatus = Literal[
    "replied",
    "silent_changed",
    "silent_unchanged",
    "failed",
    "awaiting_answer",
    "recovered",
    "lost",
]
DropReason = Literal["dropped", "idle", "timeout"]

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class TurnLimits:
    """Every time limit of a turn (defaults from ``constants``); tests shrink them."""

    max_seconds: float = TURN_MAX_SECONDS
    idle_seconds: float = TURN_IDLE_SECONDS  # heartbeats only, by ``clock``
    silence_seconds: float = TURN_SOCKET_READ_TIMEOUT  # no frame at all, real time
    recovery_first_wait: float = RECOVERY_FIRST_WAIT
    recovery_next_wait: float = RECOVERY_NEXT_WAIT
    recovery_max_unchanged: int = RECOVERY_MAX_UNCHANGED
    progress_every: float = PROGRESS_EVERY
    still_working_every: float = STILL_WORKING_EVERY
    max_line_bytes: int = MAX_SSE_LINE_BYTES
    max_event_bytes: int = MAX_SSE_EVENT_BYTES


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    status: TurnStatus
    reply_text: str = ""
    steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    timeline_summary: str | None = None
    export_ready: bool | None = None
    actions: list[SuggestedAction] = field(default_factory=list)
    state_after: Mapping[str, Any] | None = None
    duration_s: float = 0.0
    note: str = ""  # one plain sentence on what happened and what to do next
    drop_reason: DropReason | None = None
    raw_reply_text: str = ""  # the reply before GUI phrasing was rewritten
    message_resent: bool = False  # always False: recorded so callers can say so
    question: str | None = None  # awaiting_answer: the agent's question (cleaned), else None
    options: list[str] = field(default_factory=list)  # its options, verbatim (cleaned)


@dataclass(slots=True)
class _StreamEnd:
    drop: DropReason | None = None
    detail: str = ""


def _never_ran(exc: BaseException) -> bool:
    """Did this error, raised while opening the stream, prove the message was never run?"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _NEVER_SENT):
            return True
        current = current.__cause__ or current.__context__
    return isinstance(exc, NemoError) and not isinstance(exc, TransportError)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _tool(face: Face, mcp: str, cli: str) -> str:
    return f"`{mcp}`" if face == "mcp" else f"`{cli}`"


async def run_turn(
    *,
    open_stream: Callable[[], AbstractAsyncContextManager[AsyncIterator[bytes]]],
    read_state: Callable[[], Awaitable[Mapping[str, Any]]],
    before: Mapping[str, Any] | None,
    on_progress: Callable[[ProgressNote], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    limits: TurnLimits = TurnLimits(),
    face: Face = "mcp",
) -> TurnOutcome:
    """Run one chat turn whose message ``open_stream`` sends; see the module docstring."""
    start = clock()
    condenser = TurnCondenser(
        start=start,
        progress_every=limits.progress_every,
        still_working_every=limits.still_working_every,
    )
    emit_lock = anyio.Lock()

    async def emit(notes: list[ProgressNote]) -> None:
        if on_progress is None or not notes:
            return
        async with emit_lock:
            for note in notes:
                try:
                    await on_progress(note)
                except Exception:  # a broken progress channel must not end the turn
                    log.warning("progress callback failed", exc_info=True)

    async def ticker() -> None:
        while True:
            await anyio.sleep(limits.progress_every)
            await emit(condenser.tick(clock()))

    open_error: BaseException | None = None
    end = _StreamEnd()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        try:
            end = await _consume(open_stream, condenser, emit, clock, start, limits)
        except Exception as exc:  # only opening errors that prove nothing ran get here
            open_error = exc
        finally:
            tg.cancel_scope.cancel()
    if open_error is not None:
        raise open_error

    summary = condenser.result()
    if end.drop is not None and summary.question is None:
        # (a stream that breaks after the agent asked something has nothing more to wait for)
        return await _recover(
            end, summary, read_state, before, emit, clock, sleep, start, limits, face
        )
    return await _settle(summary, read_state, before, emit, clock, start, face)


async def _consume(
    open_stream: Callable[[], AbstractAsyncContextManager[AsyncIterator[bytes]]],
    condenser: TurnCondenser,
    emit: Callable[[list[ProgressNote]], Awaitable[None]],
    clock: Callable[[], float],
    start: float,
    limits: TurnLimits,
) -> _StreamEnd:
    """Read the stream to its end. Returns how it ended; raises only never-ran opening errors."""
    opened = False
    result = _StreamEnd()
    try:
        # The message is sent here, exactly once; nothing below ever calls open_stream again.
        async with open_stream() as chunks:
            opened = True
            last_activity = clock()
            with anyio.move_on_after(limits.max_seconds) as cap:
                frames = iter_frames(
                    chunks,
                    idle_timeout=limits.silence_seconds,
                    max_line_bytes=limits.max_line_bytes,
                    max_event_bytes=limits.max_event_bytes,
                )
                async with aclosing(frames):
                    async for frame in frames:
                        now = clock()
                        fatal = False
                        for event in parse_frame(frame):
                            await emit(condenser.feed(event, now))
                            if event.kind != "heartbeat":
                                last_activity = now
                            fatal = fatal or event.kind == "error"
                        if fatal:
                            break  # the agent gave up; ADK closes the stream right after
                        if now - start >= limits.max_seconds:
                            result = _StreamEnd("timeout", "the turn ran past its time limit")
                            break
                        if now - last_activity >= limits.idle_seconds:
                            result = _StreamEnd("idle", "only heartbeats arrived for too long")
                            break
            if cap.cancelled_caught:
                result = _StreamEnd("timeout", "the turn ran past its time limit")
    except IdleTimeout as exc:
        result = _StreamEnd("idle", _describe(exc))
    except Exception as exc:
        if not opened and _never_ran(exc):
            raise
        log.info("chat stream ended abnormally: %s", _describe(exc))
        result = _StreamEnd("dropped", _describe(exc))
    return result


async def _read(read_state: Callable[[], Awaitable[Mapping[str, Any]]]) -> Mapping[str, Any] | None:
    try:
        return await read_state()
    except Exception as exc:  # transient: treated as "no news", never fatal
        log.info("reading the session state failed: %s", _describe(exc))
        return None


def _timeline_fields(state: Mapping[str, Any] | None) -> tuple[str | None, bool | None]:
    if state is None:
        return None, None
    timeline = Timeline.from_state(state)
    return timeline.summary(), timeline.is_export_ready


def _outcome(
    status: TurnStatus,
    summary: TurnSummary,
    *,
    changes: list[str],
    state: Mapping[str, Any] | None,
    clock: Callable[[], float],
    start: float,
    face: Face,
    note: str,
    drop: DropReason | None = None,
) -> TurnOutcome:
    raw = summary.reply_text
    translated = translate(raw, face) if raw else None
    timeline_summary, ready = _timeline_fields(state)
    return TurnOutcome(
        status=status,
        reply_text=translated.text if translated else "",
        steps=list(summary.steps),
        errors=list(summary.errors),
        changes=changes,
        timeline_summary=timeline_summary,
        export_ready=ready,
        actions=list(translated.actions) if translated else [],
        state_after=state,
        duration_s=max(0.0, clock() - start),
        note=note,
        drop_reason=drop,
        raw_reply_text=raw,
        question=summary.question if status == "awaiting_answer" else None,
        options=list(summary.options) if status == "awaiting_answer" else [],
    )


async def _settle(
    summary: TurnSummary,
    read_state: Callable[[], Awaitable[Mapping[str, Any]]],
    before: Mapping[str, Any] | None,
    emit: Callable[[list[ProgressNote]], Awaitable[None]],
    clock: Callable[[], float],
    start: float,
    face: Face,
) -> TurnOutcome:
    """The stream closed cleanly (or with an error frame): read state once and decide."""
    state_tool = _tool(face, "nemo_get_state", "nemo-mcp state")
    if not summary.had_reply and summary.partial_text.strip():
        # Streamed text that never got its final event: it is still what the agent said.
        summary = _with_reply(summary, summary.partial_text.strip())
    await emit([ProgressNote("Reading the timeline...", None, "working")])
    state = await _read(read_state)
    if state is None:
        state = await _read(read_state)  # one more try before giving up on the comparison
    changes = diff_states(before, state) if state is not None else []
    if summary.failed:
        reason = "; ".join(summary.errors) or "no reason given"
        return _outcome(
            "failed",
            summary,
            changes=changes,
            state=state,
            clock=clock,
            start=start,
            face=face,
            note=f"The editing agent stopped with an error ({reason}). Check the timeline with "
            f"{state_tool} before asking again.",
        )
    if summary.question is not None:
        chat_tool = _tool(face, "nemo_chat", 'nemo-mcp chat "..."')
        return _outcome(
            "awaiting_answer",
            summary,
            changes=changes,
            state=state,
            clock=clock,
            start=start,
            face=face,
            note="The agent asked a question and waits for the answer: relay it to the user, "
            f"then send the answer with {chat_tool} in the same session.",
        )
    if summary.had_reply:
        return _outcome(
            "replied",
            summary,
            changes=changes,
            state=state,
            clock=clock,
            start=start,
            face=face,
            note="The agent replied." + (" The timeline changed." if changes else ""),
        )
    if state is None:
        note = (
            "The agent finished without a reply, and the timeline could not be read to see what "
            f"changed. Check it with {state_tool}."
        )
    elif changes:
        note = "The agent made the change without a reply."
    else:
        note = (
            "The agent finished without a reply and the timeline did not change. Rephrase the "
            "request more concretely, or check the timeline."
        )
    return _outcome(
        "silent_changed" if changes else "silent_unchanged",
        summary,
        changes=changes,
        state=state,
        clock=clock,
        start=start,
        face=face,
        note=note,
    )


def _with_reply(summary: TurnSummary, text: str) -> TurnSummary:
    return replace(summary, reply_text=text, had_reply=True)


async def _recover(
    end: _StreamEnd,
    summary: TurnSummary,
    read_state: Callable[[], Awaitable[Mapping[str, Any]]],
    before: Mapping[str, Any] | None,
    emit: Callable[[list[ProgressNote]], Awaitable[None]],
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    start: float,
    limits: TurnLimits,
    face: Face,
) -> TurnOutcome:
    """Contract 7.10: poll the state, never resend. Changed -> recovered; else lost."""
    drop = end.drop or "dropped"
    what = {
        "dropped": "connection dropped",
        "idle": "the stream went quiet",
        "timeout": "the turn hit its time limit",
    }[drop]
    total = max(1, limits.recovery_max_unchanged)
    last_state: Mapping[str, Any] | None = None

    async def wait(seconds: float, check: int) -> None:
        # Sleep in steps so that a progress note still goes out every ``progress_every``.
        remaining = seconds
        step = max(limits.progress_every, 0.001)
        while remaining > 0:
            chunk = min(step, remaining)
            await sleep(chunk)
            remaining -= chunk
            if remaining > 0:
                left = f"{remaining:.0f} s"
                await emit(
                    [
                        ProgressNote(
                            f"{what}; checking the timeline ({check}/{total}) in {left}",
                            (check - 1) / total,
                            "recovery",
                        )
                    ]
                )

    await emit(
        [
            ProgressNote(
                f"{what}; the message is not resent. Checking the timeline in "
                f"{limits.recovery_first_wait:.0f} s",
                0.0,
                "recovery",
            )
        ]
    )
    for check in range(1, total + 1):
        await wait(limits.recovery_first_wait if check == 1 else limits.recovery_next_wait, check)
        await emit(
            [
                ProgressNote(
                    f"{what}; checking the timeline ({check}/{total})",
                    (check - 1) / total,
                    "recovery",
                )
            ]
        )
        state = await _read(read_state)
        if state is None:
            continue
        last_state = state
        changes = diff_states(before, state)
        if changes:
            return _outcome(
                "recovered",
                summary,
                changes=changes,
                state=state,
                clock=clock,
                start=start,
                face=face,
                note=f"The {what.removeprefix('the ')}, but the edit went through: the timeline "
                "changed. The message was not resent.",
                drop=drop,
            )
    state_tool = _tool(face, "nemo_get_state", "nemo-mcp state")
    chat_tool = _tool(face, "nemo_chat", 'nemo-mcp chat "..."')
    minutes = (limits.recovery_first_wait + (total - 1) * limits.recovery_next_wait) / 60.0
    return _outcome(
        "lost",
        summary,
        changes=[],
        state=last_state,
        clock=clock,
        start=start,
        face=face,
        note=f"The {what.removeprefix('the ')} ({end.detail or drop}) and the timeline did not "
        f"change in {total} checks over about {minutes:.0f} min. The message was NOT resent "
        "(sending it again would be charged twice). The agent may still finish: check later "
        f"with {state_tool}; if nothing has changed by then, send the request again yourself "
        f"with {chat_tool}.",
        drop=drop,
    )
