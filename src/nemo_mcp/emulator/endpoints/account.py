"""Accounts: anonymous tokens (with their limits), claim tokens for the web workspace, credits."""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

from nemo_mcp.contract import account, codes, headers, values
from nemo_mcp.emulator.endpoint import Ctx
from nemo_mcp.emulator.envelope import Reject, ok

CLIENT_ID_MAX: Final = 64


async def h_anon_token(ctx: Ctx) -> Response:
    client_id = (ctx.header(headers.CLIENT_ID) or "").strip()
    if not client_id:
        raise Reject(400, f"{headers.CLIENT_ID} header is required")
    if len(client_id) > CLIENT_ID_MAX:
        raise Reject(400, f"{headers.CLIENT_ID} must be at most {CLIENT_ID_MAX} characters")
    token, user = ctx.state.issue_anon_token(client_id, ctx.client_host())
    return ok(
        account.token_answer(
            token.token,
            user.user_id,
            values.iso(token.expires_at or 0),
            user.available,
            ["read", "write", "upload"],
        )
    )


async def h_claim(ctx: Ctx) -> Response:
    user_id = ctx.user_id()
    body = await ctx.json()
    body = body if isinstance(body, dict) else {}
    sid = body.get(account.SESSION_ID_KEYS[0])
    task_id = body.get(account.TASK_ID_KEYS[0])
    if not sid and not task_id:
        raise Reject(400, "task_id or session_id is required")
    if sid:
        sess = ctx.state.session_for(str(sid), user_id)
    else:
        with ctx.state.lock:
            found = [
                s
                for s in ctx.state.sessions.values()
                if s.task_id == task_id and s.user_id == user_id
            ]
        if not found:
            raise Reject(codes.SESSION_NOT_FOUND, f"Task not found: {task_id}")
        sess = found[0]
    claim = ctx.state.claim_for(user_id, sess.session_id, sess.task_id)
    remaining = max(round(claim.expires_at - ctx.state.clock()), 0)
    return ok(account.claim_answer(claim.claim_token, remaining))


async def h_credits(ctx: Ctx) -> Response:
    user = ctx.state.authenticate(ctx.header("authorization"))
    with ctx.state.lock:
        available, frozen = user.available, user.frozen
    return ok(account.credits_answer(available, frozen))
