"""One chat turn, from the stream to an outcome a person can act on. All I/O is injected.

:func:`run_turn` opens the agent stream exactly once (a resent message would run, and be charged,
twice), condenses it (``stream.condenser``), and hands how it ended to ``settle``, which reads the
session state and decides the outcome.

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
from dataclasses import dataclass
from typing import Any

import anyio

from nemo_mcp.api.retry import provably_unsent
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
from nemo_mcp.faces import Face
from nemo_mcp.stream.condenser import ProgressNote, TurnCondenser
from nemo_mcp.stream.events import parse_frame
from nemo_mcp.stream.sse import IdleTimeout, iter_frames
from nemo_mcp.studio.settle import DropReason, TurnOutcome, describe, recover, settle

__all__ = ["TurnLimits", "run_turn"]

log = logging.getLogger(__name__)


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


def _never_ran(exc: BaseException) -> bool:
    """Did this error, raised while opening the stream, prove the message was never run?"""
    if provably_unsent(exc):
        return True
    return isinstance(exc, NemoError) and not isinstance(exc, TransportError)


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
    drop: DropReason | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        try:
            drop = await _consume(open_stream, condenser, emit, clock, start, limits)
        except Exception as exc:  # only opening errors that prove nothing ran get here
            open_error = exc
        finally:
            tg.cancel_scope.cancel()
    if open_error is not None:
        raise open_error

    summary = condenser.result()
    if drop is not None and summary.question is None:
        # (a stream that breaks after the agent asked something has nothing more to wait for)
        return await recover(
            drop, summary, read_state, before, emit, clock, sleep, start, limits, face
        )
    return await settle(summary, read_state, before, emit, clock, start, face)


async def _consume(
    open_stream: Callable[[], AbstractAsyncContextManager[AsyncIterator[bytes]]],
    condenser: TurnCondenser,
    emit: Callable[[list[ProgressNote]], Awaitable[None]],
    clock: Callable[[], float],
    start: float,
    limits: TurnLimits,
) -> DropReason | None:
    """Read the stream to its end: None when it closed cleanly, else why it stopped. Raises only
    opening errors that prove the message never ran."""
    opened = False
    result: DropReason | None = None
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
                            result = "timeout"
                            break
                        if now - last_activity >= limits.idle_seconds:
                            result = "idle"
                            break
            if cap.cancelled_caught:
                result = "timeout"
    except IdleTimeout:
        result = "idle"
    except Exception as exc:
        if not opened and _never_ran(exc):
            raise
        log.info("chat stream ended abnormally: %s", describe(exc))
        result = "dropped"
    return result
