"""A tiny web front, for ``NEMO_WEB_URL`` pointing at the emulator: the workspace a claim link
opens, the registration page, and ``/`` listing the endpoints."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse, Response

from nemo_mcp.contract import paths
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.endpoint import Ctx
from nemo_mcp.emulator.envelope import json_response


async def h_web_claim(ctx: Ctx) -> Response:
    token = ctx.request.query_params.get("ct", "")
    with ctx.state.lock:
        claim = ctx.state.claims.get(token)
        sess = ctx.state.sessions.get(claim.session_id or "") if claim else None
        valid = claim is not None and claim.expires_at > ctx.state.clock()
        summary = dr.summary(sess.draft) if sess else ""
        exports = (
            [r for r in ctx.state.renders.values() if r.session_id == sess.session_id]
            if sess
            else []
        )
    if not valid or sess is None:
        body = "<h1>Link expired</h1><p>This workspace link is invalid or has expired.</p>"
        return HTMLResponse(_page("NemoVideo emulator", body), status_code=404)
    links = "".join(
        f'<li><a href="{escape(r.cdn_path)}">{escape(r.render_id)}</a> ({escape(r.status)})</li>'
        for r in exports
    )
    body = (
        f"<h1>{escape(sess.task_name)}</h1><p>Session {escape(sess.session_id)}</p>"
        f"<p>{escape(summary)}</p><h2>Exports</h2><ul>{links or '<li>none yet</li>'}</ul>"
    )
    return HTMLResponse(_page("NemoVideo emulator workspace", body))


async def h_web_register(ctx: Ctx) -> Response:
    bind = ctx.request.query_params.get("bind", "")
    body = (
        "<h1>Register</h1><p>This is the NemoVideo emulator: there is no real registration. "
        f"The anonymous user to bind would be <code>{escape(bind)}</code>.</p>"
    )
    return HTMLResponse(_page("NemoVideo emulator registration", body))


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:40em;margin:2em auto'>{body}</body></html>"
    )


async def h_root(ctx: Ctx) -> Response:
    return json_response(
        {
            "service": "NemoVideo emulator",
            "endpoints": [
                paths.ANON_TOKEN,
                paths.CREATE_SESSION,
                paths.CLAIM_TOKEN,
                paths.RUN_SSE,
                paths.UPLOAD.format(session_id="<sid>"),
                paths.CREDITS,
                paths.STATE.format(session_id="<sid>"),
                paths.RENDER,
                paths.RENDER_STATUS.format(render_id="<id>"),
                paths.RENDER_CANCEL.format(render_id="<id>"),
                paths.RENDER_DOWNLOAD.format(render_id="<id>"),
            ],
            "control": "/_emulator/config",
        }
    )
