"""``POST /run_sse``: running a turn and streaming it.

A turn's work (:class:`TurnRunner`) runs as its own task, apart from the connection that asked
for it, and hands frames to the connection through a queue. So, like the real backend, a turn
goes on when the stream breaks: after a drop, a client disconnect or a heartbeats-only stream,
the edit is still applied to the session state (no sooner than
``broken_stream_apply_delay`` seconds after the break), unless ``broken_stream_applies_edit`` is
off, in which case the turn is abandoned and its credits returned.

The stream writer (:func:`stream_turn`) sends a heartbeat whenever nothing else was sent for
``heartbeat_interval`` seconds, and implements the stream endings: normal close, ``drop`` (the
socket is closed after N data events, so the client sees an incomplete body), the error frames,
the model error event (``errorCode``), and ``heartbeats_only``.

A plan that asks the user something (``Plan.question``) streams an ``ask_question`` call marked
long-running and its "pending" response, and the turn ends there. Drafts in ``stateDelta`` are
shown in the configured draft format (``draft_shapes``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Final

import anyio
from starlette.types import Receive, Scope, Send

from nemo_mcp.emulator import agent, draft_shapes
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.config import StreamSpec
from nemo_mcp.emulator.core import Emulator
from nemo_mcp.emulator.http import break_connection, wait_for_disconnect
from nemo_mcp.emulator.sse import Framer

log = logging.getLogger(__name__)

ERROR_FRAME_DELAY: Final = 0.3
V1_ERROR_MESSAGE: Final = (
    'Tool "generate_video" failed: upstream said "model overloaded", please retry later'
)
V2_ERROR_TYPE: Final = "ResourceExhausted"
V2_ERROR_MESSAGE: Final = "429 The model is overloaded. Please try again later."
MODEL_ERROR_CODE: Final = "MALFORMED_FUNCTION_CALL"
MODEL_ERROR_MESSAGE: Final = "Malformed function call: the edit could not be applied"
SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class TurnRunner:
    """Runs one turn's plan and queues its frames; survives the stream breaking."""

    def __init__(
        self,
        emu: Emulator,
        *,
        session_id: str,
        user_id: str,
        framer: Framer,
        spec: StreamSpec,
        partial: bool,
        base_url: str,
        plan: agent.Plan | None = None,
        canned: list[bytes] | None = None,
    ) -> None:
        self.emu = emu
        self.session_id = session_id
        self.user_id = user_id
        self.framer = framer
        self.spec = spec
        self.partial = partial
        self.base_url = base_url
        self.plan = plan
        self.canned = canned or []
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.broken_at: float | None = None
        self.finished = anyio.Event()

    def mark_broken(self) -> None:
        if self.broken_at is None:
            self.broken_at = time.monotonic()

    def _put(self, frame: bytes) -> None:
        self.queue.put_nowait(frame)

    async def _before_apply(self) -> bool:
        """False when the turn must stop here (its stream broke and edits are not applied)."""
        if self.broken_at is None:
            return True
        cfg = self.emu.config
        if not cfg.broken_stream_applies_edit:
            return False
        wait = self.broken_at + cfg.broken_stream_apply_delay - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)
        return True

    async def run(self) -> None:
        plan = self.plan
        cost = plan.cost if plan is not None else 0
        settled = False
        try:
            for frame in self.canned:
                self._put(frame)
            if plan is None:
                return
            if self.spec.ending in ("error_v1", "error_v2", "model_error"):
                await self._run_failing(plan)
                return
            if plan.question is not None:
                self._ask(plan.question)
            for step in plan.steps:
                self._put(
                    self.framer.function_call(
                        step.call_id, step.tool, step.args, long_running=step.long_running
                    )
                )
                began = time.monotonic()
                result = await anyio.to_thread.run_sync(agent.run_step, plan, step)
                remaining = step.seconds - (time.monotonic() - began)
                if remaining > 0:
                    await anyio.sleep(remaining)
                if not await self._before_apply():
                    self.emu.state.refund(self.user_id, cost)
                    settled = True
                    return
                if result.delta:
                    self.emu.apply_delta(self.session_id, result.delta)
                self._put(
                    self.framer.function_response(
                        step.call_id,
                        step.tool,
                        dr.absolutize(result.response, self.base_url),
                        draft_shapes.present_delta(
                            dr.absolutize(result.delta, self.base_url),
                            self.emu.config.draft_format,
                        ),
                    )
                )
            if self.broken_at is not None and not plan.steps:
                await self._before_apply()
            text = plan.final_text()
            if text:
                if self.partial:
                    for chunk in self.framer.text_chunks(text):
                        self._put(chunk)
                thought = self._thought(plan) if self.spec.thoughts else None
                self._put(self.framer.final_text(text, streamed=self.partial, thought=thought))
            if plan.changed:
                self.emu.state.commit(self.user_id, cost)
            else:
                self.emu.state.refund(self.user_id, cost)
            settled = True
        except Exception as exc:
            log.exception("turn failed")
            self._put(Framer.fatal_error_v2(type(exc).__name__, str(exc)))
        finally:
            if not settled and cost:
                self.emu.state.refund(self.user_id, cost)
            self.queue.put_nowait(None)
            self.finished.set()

    async def _run_failing(self, plan: agent.Plan) -> None:
        """The error-frame endings: start the first tool, then fail; nothing is applied."""
        if plan.steps:
            step = plan.steps[0]
            self._put(
                self.framer.function_call(
                    step.call_id, step.tool, step.args, long_running=step.long_running
                )
            )
        await anyio.sleep(ERROR_FRAME_DELAY)
        if self.spec.ending == "error_v1":
            self._put(Framer.fatal_error_v1(V1_ERROR_MESSAGE))
        elif self.spec.ending == "model_error":
            self._put(self.framer.model_error(MODEL_ERROR_CODE, MODEL_ERROR_MESSAGE))
        else:
            self._put(Framer.fatal_error_v2(V2_ERROR_TYPE, V2_ERROR_MESSAGE))

    def _ask(self, question: dict[str, object]) -> None:
        """The agent's question: a long-running ``ask_question`` call, answered "pending"."""
        call_id = f"adk-{secrets.token_hex(16)}"
        tool = agent.QUESTION_TOOL
        self._put(self.framer.function_call(call_id, tool, dict(question), long_running=True))
        pending = {"status": "pending", "message": "waiting for the user's answer"}
        self._put(self.framer.function_response(call_id, tool, pending, {}))

    @staticmethod
    def _thought(plan: agent.Plan) -> str:
        tools = ", ".join(s.tool for s in plan.steps) or "no tools"
        return f"The user asked for a {plan.kind} turn; I used: {tools}."


async def stream_turn(
    emu: Emulator,
    scope: Scope,
    receive: Receive,
    send: Send,
    runner: TurnRunner,
) -> int:
    """Write the runner's frames as an SSE response; returns the HTTP status (200)."""
    spec = runner.spec
    cfg = emu.config
    interval = max(cfg.heartbeat_interval, 0.01)
    heartbeat = runner.framer.heartbeat()
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    drop_after = spec.drop_after if spec.ending == "drop" else None
    outcome = "gone"

    async def body(chunk: bytes) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def pump() -> str:
        events = 0
        if spec.ending == "heartbeats_only":
            runner.mark_broken()
            deadline = time.monotonic() + cfg.heartbeats_only_max_seconds
            while time.monotonic() < deadline and not emu.stopping.is_set():
                await body(heartbeat)
                await anyio.sleep(interval)
            return "end"
        while True:
            if drop_after is not None and events >= drop_after:
                return "drop"
            item: bytes | None = None
            timed_out = True
            with anyio.move_on_after(interval):
                item = await runner.queue.get()
                timed_out = False
            if timed_out:
                if emu.stopping.is_set():
                    return "end"
                await body(heartbeat)
                continue
            if item is None:
                return "drop" if drop_after is not None else "end"
            await body(item)
            events += 1

    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            await wait_for_disconnect(receive)
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        outcome = await pump()
        tg.cancel_scope.cancel()

    if outcome == "end":
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return 200
    runner.mark_broken()
    if outcome == "drop":
        await break_connection(emu.connections, scope, reset=False)
    return 200
