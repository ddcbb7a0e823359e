"""The control API under ``/_emulator/`` (loopback clients only): settings, faults, the request
log, reset, state, token expiry, credits, deleting sessions, failing renders."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from nemo_mcp.emulator.endpoint import Ctx
from nemo_mcp.emulator.envelope import Reject, ok
from nemo_mcp.emulator.render.queue import FORCED_FAILURE


async def c_config(ctx: Ctx) -> Response:
    if ctx.request.method == "POST":
        body = await ctx.json()
        if not isinstance(body, dict):
            raise Reject(400, "Body must be a JSON object of config fields")
        try:
            ctx.emu.set_config(body)
        except (ValueError, TypeError) as exc:
            raise Reject(400, str(exc)) from None
    return ok(ctx.config.to_dict())


async def c_faults(ctx: Ctx) -> Response:
    book = ctx.state.faults
    if ctx.request.method == "DELETE":
        book.clear(ctx.request.query_params.get("endpoint"))
    elif ctx.request.method == "POST":
        body = await ctx.json()
        if isinstance(body, dict) and body.get("replace"):
            book.clear()
        items: Any = body
        if isinstance(body, dict):
            items = body.get("faults", body.get("fault", [] if "replace" in body else body))
        if not isinstance(items, list):
            items = [items]
        try:
            book.add(*[i for i in items if i])
        except ValueError as exc:
            raise Reject(400, str(exc)) from None
    return ok({"faults": [f.to_dict() for f in book.list()]})


async def c_requests(ctx: Ctx) -> Response:
    if ctx.request.method == "DELETE":
        ctx.state.clear_requests()
        return ok({"requests": []})
    q = ctx.request.query_params
    items = ctx.state.recorded(path=q.get("path"), endpoint=q.get("endpoint"))
    items = [r for r in items if not r.path.startswith("/_emulator/")]
    limit = q.get("limit")
    if limit and limit.isdigit():
        items = items[-int(limit) :]
    return ok({"requests": [r.to_dict() for r in items]})


async def c_reset(ctx: Ctx) -> Response:
    ctx.emu.reset()
    return ok({"reset": True})


async def c_state(ctx: Ctx) -> Response:
    return ok(ctx.state.snapshot())


async def c_expire(ctx: Ctx) -> Response:
    body = await ctx.json()
    body = body if isinstance(body, dict) else {}
    count = ctx.state.expire_tokens(token=body.get("token"), user_id=body.get("user_id"))
    return ok({"expired": count})


async def c_credits(ctx: Ctx) -> Response:
    body = await ctx.json()
    if not isinstance(body, dict) or "available" not in body:
        raise Reject(400, 'Body must be {"user_id" | "token", "available", "frozen"?}')
    user_id = body.get("user_id")
    if not user_id and body.get("token"):
        tok = ctx.state.token_info(str(body["token"]))
        user_id = tok.user_id if tok else None
    if not user_id:
        raise Reject(404, "No such user or token")
    try:
        user = ctx.state.set_credits(str(user_id), int(body["available"]), body.get("frozen"))
    except KeyError:
        raise Reject(404, f"No such user: {user_id}") from None
    return ok({"user_id": user.user_id, "available": user.available, "frozen": user.frozen})


async def c_delete_session(ctx: Ctx) -> Response:
    sid = ctx.path_param("session_id")
    if not ctx.state.delete_session(sid):
        raise Reject(404, f"No such session: {sid}")
    return ok({"deleted": sid})


async def c_fail_render(ctx: Ctx) -> Response:
    render_id = ctx.path_param("render_id")
    render = ctx.state.get_render(render_id)
    if render is None:
        raise Reject(404, f"No such render: {render_id}")
    body = await ctx.json()
    reason = body.get("reason") if isinstance(body, dict) else None
    ctx.emu.renders.fail_now(render, str(reason) if reason else FORCED_FAILURE)
    return ok({"id": render_id, "status": render.status, "fail_reason": render.fail_reason})
