"""Renders: submit (with attribution checks), poll in every documented shape, cancel,
download, and the CDN that serves renders and uploaded media (no auth; Range support)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.responses import Response

from nemo_mcp.contract import headers, renders
from nemo_mcp.contract.media import MIME_TYPES
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator import draft_shapes
from nemo_mcp.emulator.config import H_POLL_SHAPE
from nemo_mcp.emulator.endpoint import Ctx
from nemo_mcp.emulator.envelope import Reject, json_response
from nemo_mcp.emulator.http import send_file
from nemo_mcp.emulator.records import Render


def _render_for(ctx: Ctx, user_id: str) -> Render:
    render_id = ctx.path_param("render_id")
    render = ctx.state.get_render(render_id)
    if render is None or render.user_id != user_id:
        raise Reject(404, f"Render not found: {render_id}")
    return render


async def h_render_submit(ctx: Ctx) -> Response:
    user_id = ctx.user_id()
    if ctx.config.require_attribution:
        missing = [h for h in headers.ATTRIBUTION if not (ctx.header(h) or "").strip()]
        if missing:
            raise Reject(
                402,
                "Export is not available: missing attribution headers " + ", ".join(missing),
            )
    body = await ctx.json()
    if not isinstance(body, dict):
        raise Reject(400, 'Body must be {"id", "sessionId", "draft", "output"}')
    render_id = body.get(renders.SUBMIT_ID)
    if not isinstance(render_id, str) or not render_id.strip():
        raise Reject(400, "id is required (a unique render id, e.g. render_<timestamp>)")
    sid = body.get(renders.SUBMIT_SESSION_ID)
    if not isinstance(sid, str) or not sid:
        raise Reject(400, "sessionId (camelCase) is required")
    ctx.state.session_for(sid, user_id)
    received = body.get(renders.SUBMIT_DRAFT)
    draft = draft_shapes.accept(received)  # JSON, labels in m, or Draft V3
    if not dr.is_ready(draft):
        raise Reject(
            400,
            "The draft is empty or unreadable: it needs tracks (t) with at least one segment "
            "(sg), or a Draft V3 document with at least one <clip>",
        )
    output = body.get(renders.SUBMIT_OUTPUT)
    output = output if isinstance(output, dict) else {}
    assert isinstance(draft, dict) and isinstance(output, dict)
    fmt = str(output.get("format", "mp4")).lower()
    if fmt != "mp4":
        raise Reject(400, f"Unsupported output format {fmt!r}; only mp4")
    render = Render(
        render_id=render_id,
        session_id=sid,
        user_id=user_id,
        draft=draft,
        output={**renders.DEFAULT_OUTPUT, **output},
        created_at=time.time(),
        received_draft=received if isinstance(received, str) else None,
    )
    fail_reason = None
    if ctx.fault is not None and ctx.fault.action == "fail":
        fail_reason = ctx.fault.message or "Render failed: injected fault"
    else:
        with ctx.state.lock:
            if ctx.config.fail_renders > 0:
                ctx.emu.state.config = replace(ctx.config, fail_renders=ctx.config.fail_renders - 1)
                fail_reason = "Render failed: the render node crashed (emulated)"
    render.fail_reason = fail_reason
    ctx.state.add_render(render)
    ctx.emu.renders.submit(render)
    return json_response(renders.status_answer(render_id, "pending", progress=5))


def poll_body(render: Render, shape: renders.PollShape, base: str) -> dict[str, Any]:
    return renders.poll_answer(
        shape,
        render_id=render.render_id,
        status=render.status,
        progress=render.progress,
        url=base + render.cdn_path if render.status == "completed" else None,
        duration=render.duration,
        size=render.size,
        error=render.error,
        created_at=render.created_at,
        finished_at=render.finished_at,
    )


async def h_render_poll(ctx: Ctx) -> Response:
    render = _render_for(ctx, ctx.user_id())
    if ctx.fault is not None and ctx.fault.action == "fail":
        ctx.emu.renders.fail_now(render, ctx.fault.message or "Render failed: injected fault")
    shape = (ctx.header(H_POLL_SHAPE) or ctx.config.poll_shape).strip().lower()
    if shape not in renders.POLL_SHAPES:
        raise Reject(400, f"{H_POLL_SHAPE} must be one of {', '.join(renders.POLL_SHAPES)}")
    with ctx.state.lock:
        body = poll_body(render, shape, ctx.base_url)
    return json_response(body)


async def h_render_cancel(ctx: Ctx) -> Response:
    render = _render_for(ctx, ctx.user_id())
    with ctx.state.lock:
        if render.status in ("completed", "failed"):
            raise Reject(409, f"Render {render.render_id} is already {render.status}")
        if render.status != "cancelled":
            render.cancel_requested = True
            if render.status == "pending":
                ctx.state.update_render(render, status="cancelled", finished_at=time.time())
            else:
                ctx.state.save()
        status = render.status
    return json_response(renders.status_answer(render.render_id, status))


async def _send_render(ctx: Ctx, render: Render, *, cors: bool = False) -> None:
    with ctx.state.lock:
        if render.status != "completed" or not render.file:
            raise Reject(409, f"Render {render.render_id} is {render.status}, not completed")
        path = ctx.state.renders_dir / render.file
    if not path.is_file():
        raise Reject(404, "The rendered file is gone")
    await _send(ctx, path, content_type="video/mp4", filename=f"{render.render_id}.mp4", cors=cors)


async def _send(
    ctx: Ctx, path: Path, *, content_type: str, filename: str, cors: bool = False
) -> None:
    """Send a file (Range requests answered; ``cors``: readable by any web page, as a CDN's
    files are); a truncate or drop fault cuts it short."""
    fault = ctx.fault
    cut = fault if fault is not None and fault.action in ("truncate", "drop") else None
    await send_file(
        ctx.scope,
        ctx.send,
        path,
        content_type=content_type,
        connections=ctx.emu.connections,
        filename=filename,
        truncate=cut.arg if cut is not None else None,
        truncate_half=cut is not None and cut.arg is None,
        cors=cors,
    )


async def h_download(ctx: Ctx) -> Response | None:
    render = _render_for(ctx, ctx.user_id())
    await _send_render(ctx, render)
    return None


async def h_cdn_render(ctx: Ctx) -> Response | None:
    name = ctx.path_param("name")
    render = ctx.state.get_render(name[:-4] if name.endswith(".mp4") else name)
    if render is None:
        raise Reject(404, "Not found")
    await _send_render(ctx, render, cors=True)
    return None


async def h_cdn_media(ctx: Ctx) -> Response | None:
    mid = ctx.path_param("mid")
    path = ctx.state.media_path(mid)
    with ctx.state.lock:
        item = ctx.state.media.get(mid)
    if path is None or item is None:
        raise Reject(404, "Not found")
    mime = MIME_TYPES.get(path.suffix.lower().lstrip("."), "application/octet-stream")
    await _send(ctx, path, content_type=mime, filename=item.filename, cors=True)
    return None
