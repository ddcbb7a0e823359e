"""The MCP resources: a session's timeline (text) and raw draft (JSON), and a render's status.

Their URIs are said here once; the server announces the ones a change touched (``changed``).
"""

from __future__ import annotations

import json
from typing import Final

from mcp.server.mcpserver import Context, MCPServer

from nemo_mcp.errors import NemoError
from nemo_mcp.mcp.context import studio_of
from nemo_mcp.mcp.results import resource_errors
from nemo_mcp.redact import redact
from nemo_mcp.studio.texts import timeline_line

SESSIONS_PREFIX: Final = "nemo://sessions/"
RENDERS_PREFIX: Final = "nemo://renders/"
TIMELINE: Final = SESSIONS_PREFIX + "{session_id}/timeline"
DRAFT: Final = SESSIONS_PREFIX + "{session_id}/draft"
RENDER: Final = RENDERS_PREFIX + "{render_id}"


def render_uri(render_id: str) -> str:
    return RENDER.format(render_id=render_id)


def changed(session_id: str, render_ids: list[str]) -> list[str]:
    """The resources a change to this session touched: its timeline and draft, and its renders
    (a render's status change is a session change)."""
    uris = [TIMELINE.format(session_id=session_id), DRAFT.format(session_id=session_id)]
    return uris + [render_uri(r) for r in render_ids]


def add_resources(mcp: MCPServer) -> None:

    @mcp.resource(
        TIMELINE,
        name="timeline",
        title="Session timeline",
        description="Readable summary of a session's timeline.",
        mime_type="text/plain",
    )
    @resource_errors
    async def timeline_resource(session_id: str, ctx: Context) -> str:
        studio = studio_of(ctx)
        try:
            view = await studio.state(session_id=session_id)
        except NemoError as err:
            cached = studio.cached_state(session_id)
            if cached is None:  # nothing known: say why, as the tools would
                raise
            view = studio.state_view(session_id, cached)
            return view.timeline + f"\n(cached; live read failed: {err.kind})"
        return timeline_line(view.timeline, view.export_ready) or view.timeline

    @mcp.resource(
        DRAFT,
        name="draft",
        title="Session draft (raw JSON)",
        description="The raw timeline draft, exactly as NemoVideo keeps it: a JSON object "
        "(t=tracks, tt=type, sg=segments, d=ms, m=meta), or a JSON string holding a Draft "
        "Protocol V3 document (<draft>, <track type>, <clip in out>).",
        mime_type="application/json",
    )
    @resource_errors
    async def draft_resource(session_id: str, ctx: Context) -> str:
        studio = studio_of(ctx)
        try:
            await studio.state(session_id=session_id)
        except NemoError:
            if studio.cached_state(session_id) is None:  # nothing known: say why
                raise
        cached = studio.cached_state(session_id) or {}
        inner = cached.get("state", cached) if isinstance(cached, dict) else {}
        draft = inner.get("draft") if isinstance(inner, dict) else None
        return json.dumps(draft, ensure_ascii=False, indent=1)

    @mcp.resource(
        RENDER,
        name="render",
        title="Render status",
        description="A render's status, progress, download URL and local file.",
        mime_type="application/json",
    )
    @resource_errors
    async def render_resource(render_id: str, ctx: Context) -> str:
        view = await studio_of(ctx).render_status(render_id, wait=0)
        return redact(view.model_dump_json(indent=1))
