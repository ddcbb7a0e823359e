"""After the stream of a chat turn: what the turn did, decided from how the stream ended and what
the session state shows afterwards. The message is never sent again.

==================  =============================================================================
``replied``         the stream closed cleanly and the agent said something
``silent_changed``  closed cleanly without text, and the timeline changed (about 30 % of edits)
``silent_unchanged`` closed cleanly without text, and nothing visible changed
``failed``          the stream ended in an error: an error frame, or a model error (``errorCode``)
                    that nothing after it resolved (see ``stream.condenser``)
``awaiting_answer`` the agent asked the user a question (``ask_question``) and stopped for the
                    answer: the question and its options are on the outcome, nothing is finished
``recovered``       the stream dropped, stalled or ran out of time, and the timeline then changed
``lost``            the same, but the timeline stayed unchanged through every check
==================  =============================================================================

A clean end is settled by one read of the state (``settle``). Drops, stalls and the overall cap
by the contract's recovery procedure (7.10, ``recover``): wait ``recovery_first_wait``, read
state, and while nothing changed wait ``recovery_next_wait`` and read again, up to
``recovery_max_unchanged`` reads. A read that fails counts as unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from nemo_mcp.faces import Face
from nemo_mcp.stream.condenser import ProgressNote, TurnSummary
from nemo_mcp.stream.gui import translate
from nemo_mcp.timeline.diff import diff_states
from nemo_mcp.timeline.model import Timeline

if TYPE_CHECKING:
    from nemo_mcp.studio.turns import TurnLimits

__all__ = ["DropReason", "OutcomeStatus", "TurnOutcome", "recover", "settle"]

log = logging.getLogger(__name__)

OutcomeStatus = Literal[
    "replied",
    "silent_changed",
    "silent_unchanged",
    "failed",
    "awaiting_answer",
    "recovered",
    "lost",
]
DropReason = Literal["dropped", "idle", "timeout"]
Emit = Callable[[list[ProgressNote]], Awaitable[None]]
ReadState = Callable[[], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    status: OutcomeStatus
    reply_text: str = ""  # the agent's words, its GUI phrasing rewritten for the face
    steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    timeline_summary: str | None = None
    export_ready: bool | None = None
    state_after: Mapping[str, Any] | None = None
    duration_s: float = 0.0
    question: str | None = None  # awaiting_answer: the agent's question (cleaned), else None
    options: list[str] = field(default_factory=list)  # its options, verbatim (cleaned)


async def read_once(read_state: ReadState) -> Mapping[str, Any] | None:
    try:
        return await read_state()
    except Exception as exc:  # transient: treated as "no news", never fatal
        log.info("reading the session state failed: %s", describe(exc))
        return None


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _timeline_fields(state: Mapping[str, Any] | None) -> tuple[str | None, bool | None]:
    if state is None:
        return None, None
    timeline = Timeline.from_state(state)
    return timeline.summary(), timeline.is_export_ready


def _outcome(
    status: OutcomeStatus,
    summary: TurnSummary,
    *,
    changes: list[str],
    state: Mapping[str, Any] | None,
    clock: Callable[[], float],
    start: float,
    face: Face,
) -> TurnOutcome:
    raw = summary.reply_text
    timeline_summary, ready = _timeline_fields(state)
    return TurnOutcome(
        status=status,
        reply_text=translate(raw, face).text if raw else "",
        steps=list(summary.steps),
        errors=list(summary.errors),
        changes=changes,
        timeline_summary=timeline_summary,
        export_ready=ready,
        state_after=state,
        duration_s=max(0.0, clock() - start),
        question=summary.question if status == "awaiting_answer" else None,
        options=list(summary.options) if status == "awaiting_answer" else [],
    )


async def settle(
    summary: TurnSummary,
    read_state: ReadState,
    before: Mapping[str, Any] | None,
    emit: Emit,
    clock: Callable[[], float],
    start: float,
    face: Face,
) -> TurnOutcome:
    """The stream closed cleanly (or with an error frame): read state once and decide."""
    if not summary.had_reply and summary.partial_text.strip():
        # Streamed text that never got its final event: it is still what the agent said.
        summary = replace(summary, reply_text=summary.partial_text.strip(), had_reply=True)
    await emit([ProgressNote("Reading the timeline...", None, "working")])
    state = await read_once(read_state)
    if state is None:
        state = await read_once(read_state)  # one more try before giving up on the comparison
    changes = diff_states(before, state) if state is not None else []
    if summary.failed:
        status: OutcomeStatus = "failed"
    elif summary.question is not None:
        status = "awaiting_answer"
    elif summary.had_reply:
        status = "replied"
    else:
        status = "silent_changed" if changes else "silent_unchanged"
    return _outcome(
        status, summary, changes=changes, state=state, clock=clock, start=start, face=face
    )


async def recover(
    drop: DropReason,
    summary: TurnSummary,
    read_state: ReadState,
    before: Mapping[str, Any] | None,
    emit: Emit,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    start: float,
    limits: TurnLimits,
    face: Face,
) -> TurnOutcome:
    """Contract 7.10: poll the state, never resend. Changed -> recovered; else lost."""
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
        state = await read_once(read_state)
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
            )
    return _outcome(
        "lost", summary, changes=[], state=last_state, clock=clock, start=start, face=face
    )
