"""``/run_sse``: a chat turn, answered as an SSE stream in the configured dialect."""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.responses import Response

from nemo_mcp.contract import codes, stream
from nemo_mcp.emulator import agent
from nemo_mcp.emulator.config import H_SILENT, H_STREAM
from nemo_mcp.emulator.endpoint import Ctx
from nemo_mcp.emulator.envelope import Reject, json_response
from nemo_mcp.emulator.sse import Framer
from nemo_mcp.emulator.turns import TurnRunner, stream_turn

_APP_NAME = re.compile(r"^[a-zA-Z0-9_]+$")


def _run_request_error(message: str) -> Reject:
    """ADK answers an invalid run request with HTTP 422 before any stream."""
    return Reject(422, message, data={"detail": message})


async def h_run_sse(ctx: Ctx) -> Response | None:
    user_id = ctx.user_id()
    body = await ctx.json()
    if not isinstance(body, dict):
        raise _run_request_error("Body must be a JSON object (ADK run request)")
    app_name = stream.read_field(body, stream.APP_NAME_FIELD)
    if app_name is not None and (not isinstance(app_name, str) or not _APP_NAME.match(app_name)):
        raise _run_request_error("app_name must match ^[a-zA-Z0-9_]+$")
    sid = stream.read_field(body, stream.SESSION_ID_FIELD)
    if not isinstance(sid, str) or not sid:
        raise _run_request_error("session_id is required")
    text = stream.message_text(stream.read_field(body, stream.NEW_MESSAGE_FIELD))
    if text is None:
        raise _run_request_error("new_message.parts is required")
    if not text.strip():
        raise _run_request_error("new_message.parts[].text is required")
    sess = ctx.state.find_session(sid)
    if sess is None or sess.user_id != user_id:
        detail = f"Session not found: {sid}"
        return json_response(
            {"detail": detail, "code": codes.SESSION_NOT_FOUND, "message": detail},
            status=404,
        )
    try:
        spec = ctx.config.stream_spec.merge(ctx.header(H_STREAM))
    except ValueError as exc:
        raise Reject(400, f"{H_STREAM}: {exc}") from None
    fault = ctx.fault
    if fault is not None and fault.action in (
        "error_v1",
        "error_v2",
        "model_error",
        "heartbeats_only",
    ):
        spec = spec.merge(fault.action)
    elif fault is not None and fault.action == "drop":
        spec = spec.merge("drop" if fault.arg is None else f"drop={fault.arg}")
    elif fault is not None and fault.action == "truncate":
        spec = spec.merge("drop")
    partial = spec.partial if spec.partial is not None else bool(body.get(stream.STREAMING))
    silent_header = ctx.header(H_SILENT)
    silent = None if silent_header is None else silent_header.strip() in ("1", "true", "yes")
    if fault is not None and fault.action == "silent":
        silent = True

    with ctx.state.changing():
        sess.turns += 1
        turn = sess.turns
        sess.history.append({"turn": turn, "role": "user", "text": text[:2000], "at": time.time()})
    plan = agent.plan_turn(ctx.state, sess, text, ctx.config, turn=turn, silent=silent)
    framer = Framer(spec)
    runner_args: dict[str, Any] = {
        "session_id": sid,
        "user_id": user_id,
        "framer": framer,
        "spec": spec,
        "partial": partial,
        "base_url": ctx.base_url,
    }
    if plan.cost and not ctx.state.reserve(user_id, plan.cost):
        with ctx.state.lock:
            have = ctx.state.users[user_id].available
        msg = f"Insufficient credits: this request needs {plan.cost} credits, {have} available"
        if ctx.config.credits_error == "rest":
            raise Reject(codes.NO_CREDITS, msg)
        if ctx.config.credits_error == "error_frame":
            canned = [Framer.fatal_error_v2("InsufficientCreditsError", f"2001 {msg}")]
        else:
            friendly = plan.workspace.say(
                f"You've run out of credits (this needs {plan.cost}, you have {have}). "
                "Register or top up your credits to keep creating. Exporting stays free.",
                f"积分不足（需要 {plan.cost}，当前 {have}）。"
                "注册或充值后即可继续创作，导出视频仍然免费。",
            )
            canned = [framer.error_event(str(codes.NO_CREDITS), msg, text=friendly)]
        runner = TurnRunner(ctx.emu, canned=canned, **runner_args)
    else:
        runner = TurnRunner(ctx.emu, plan=plan, **runner_args)
    ctx.emu.spawn(runner.run())
    await stream_turn(ctx.emu, ctx.scope, ctx.receive, ctx.send, runner)
    return None
