"""The NemoVideo MCP App: a player, the timeline and the storyboard, shown by hosts that render
MCP Apps (extension ``io.modelcontextprotocol/ui``).

- The app is one self-contained HTML file (``assets/app.html``, built from ``app/`` in the
  repository with esbuild; no fetch at run time but the video itself), served as the ``ui://``
  resource :data:`APP_URI` with the MIME type ``text/html;profile=mcp-app`` and the
  Content-Security-Policy domains a host needs to let its ``<video>`` play NemoVideo's CDN (and
  the API's own origin, where a local emulator serves the renders).
- The tools that show it (:data:`BOUND_TOOLS`) carry ``_meta.ui.resourceUri`` only for a client
  that advertised the extension with that MIME type (:class:`BindAppForAppHosts`, which reads
  each ``tools/list`` request's capabilities); every other client gets the same tools without it,
  and every client gets the same results: full text, the poster and the storyboard as images.
- The storyboard, a contact sheet of frames with their times, is also the resource
  ``nemo://renders/{render_id}/storyboard.png``.
"""

from __future__ import annotations

import base64
import logging
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import anyio
from mcp.server.apps import Apps, ResourceCsp, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    ContentBlock,
    ImageContent,
    ListToolsResult,
    ResourceLink,
)

from nemo_mcp.config import Settings
from nemo_mcp.faces import Tool
from nemo_mcp.mcp.context import studio_in, studio_of

log = logging.getLogger(__name__)

APP_URI: Final = "ui://nemovideo/player.html"
APP_META_KEY: Final = "com.nemovideo/app"  # in a bound tool's result: the timeline as clips
STORYBOARD: Final = "nemo://renders/{render_id}/storyboard.png"
BOUND_TOOLS: Final = frozenset({str(Tool.EXPORT), str(Tool.STATE), str(Tool.WAIT)})
# Where NemoVideo serves renders and media (its CDN hosts are subdomains of these).
NEMOVIDEO_MEDIA: Final = ("https://*.nemovideo.ai", "https://*.nemovideo.com")


def storyboard_uri(render_id: str) -> str:
    return STORYBOARD.format(render_id=render_id)


@cache
def app_html() -> str:
    """The built app (one HTML file, scripts and styles inline)."""
    return (resources.files("nemo_mcp") / "assets" / "app.html").read_text(encoding="utf-8")


def media_domains(settings: Settings) -> list[str]:
    """The origins the player may load video and pictures from: NemoVideo's, plus the API's
    own when it is somewhere else (a local emulator serves its renders from its own origin)."""
    domains = list(NEMOVIDEO_MEDIA)
    parts = urlsplit(settings.api_url)
    host = parts.hostname or ""
    if parts.scheme in ("http", "https") and not host.endswith((".nemovideo.ai", ".nemovideo.com")):
        domains.append(f"{parts.scheme}://{parts.netloc}")
    return domains


def clip_timeline(raw: Any, session_id: str) -> dict[str, Any]:
    """What the app draws: every track as its clips (times, words or names, volumes)."""
    from nemo_mcp.timeline.model import Timeline

    tl = Timeline.from_state(raw)
    tracks = [
        {
            "role": t.role,
            "kind": t.kind,
            "volume_pct": t.volume_pct,
            "clips": [
                {
                    "start_s": c.start_s,
                    "end_s": c.end_s,
                    "label": c.label,
                    "volume_pct": c.volume_pct,
                }
                for c in t.clips
            ],
        }
        for t in tl.track_views()
    ]
    return {
        "session_id": session_id,
        "duration_s": tl.duration_s,
        "width": tl.width,
        "height": tl.height,
        "tracks": tracks,
    }


def _session_of(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    for inner in (data, data.get("render"), data.get("turn")):
        if isinstance(inner, dict) and isinstance(inner.get("session_id"), str):
            return str(inner["session_id"])
    return None


class NemoApps(Apps):
    """The Apps extension, adding to a bound tool's result, for a client with Apps, the
    timeline as clips under ``_meta`` (:data:`APP_META_KEY`): what the app draws, beside the
    structured content every client gets (whose schema stays the same for all)."""

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        result = await call_next(ctx)
        if params.name not in BOUND_TOOLS or not isinstance(result, CallToolResult):
            return result
        if result.is_error or not client_supports_apps(ctx):
            return result
        session_id = _session_of(result.structured_content)
        try:  # extra pictures for the app: never a reason to lose the result itself
            raw = studio_in(ctx.lifespan_context).cached_state(session_id) if session_id else None
            view = clip_timeline(raw, str(session_id)) if raw is not None else None
            sheet = await anyio.to_thread.run_sync(_sheet_layout, result.structured_content)
        except Exception:
            log.warning("no timeline for the app", exc_info=True)
            return result
        if view is None:
            return result
        if sheet:
            view["storyboard"] = sheet
        meta = {**(result.meta or {}), APP_META_KEY: view}
        return result.model_copy(update={"meta": meta})


def _sheet_layout(data: Any) -> dict[str, Any] | None:
    """The storyboard's frame times and columns, for an exported file (a click on a frame in
    the app seeks the player there)."""
    render = data.get("render") if isinstance(data, dict) and "render" in data else data
    source = _video_of(render) if isinstance(render, dict) else None
    if source is None:
        return None
    from nemo_mcp.media.storyboard import storyboard_of  # made already, for the result

    board = storyboard_of(source)
    return {"times": board.times, "columns": board.columns} if board else None


def _video_of(render: dict[str, Any]) -> Path | str | None:
    """The video a render's storyboard is drawn from: its downloaded file, or (hosted mode,
    nothing on disk) the finished render's URL."""
    file, url = render.get("file"), render.get("url")
    if isinstance(file, str) and file:
        return Path(file)
    if render.get("status") == "completed" and isinstance(url, str) and url:
        return url
    return None


def apps_extension(settings: Settings) -> Apps:
    """The Apps extension with the app's resource and its CSP (advertised as a capability)."""
    apps = NemoApps()
    apps.add_html_resource(
        APP_URI,
        app_html(),
        name="nemovideo-player",
        title="NemoVideo player and timeline",
        description="The exported video, the timeline as tracks of labelled clips, the "
        "storyboard and the credits left, with buttons to export, edit and refresh.",
        csp=ResourceCsp(resource_domains=media_domains(settings)),
        prefers_border=True,
    )
    return apps


def _bind(tool: Any) -> Any:
    if isinstance(tool, dict):
        meta = dict(tool.get("_meta") or {})
        meta["ui"] = {**meta.get("ui", {}), "resourceUri": APP_URI}
        return {**tool, "_meta": meta}
    meta = dict(tool.meta or {})
    meta["ui"] = {**meta.get("ui", {}), "resourceUri": APP_URI}
    return tool.model_copy(update={"meta": meta})


class BindAppForAppHosts(ServerMiddleware[Any]):
    """On ``tools/list``, point :data:`BOUND_TOOLS` at the app for a client that advertised MCP
    Apps (the extension asks servers to check); other clients see plain tools."""

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/list" or not client_supports_apps(ctx):
            return result
        if isinstance(result, ListToolsResult):
            tools = [_bind(t) if t.name in BOUND_TOOLS else t for t in result.tools]
            return result.model_copy(update={"tools": tools})
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            tools = [
                _bind(t) if isinstance(t, dict) and t.get("name") in BOUND_TOOLS else t
                for t in result["tools"]
            ]
            return {**result, "tools": tools}
        return result


def storyboard_blocks(render_id: str, file: Path | str) -> list[ContentBlock]:
    """The storyboard of an exported file (or, hosted, its URL) as an image and a link to its
    resource (nothing without PyAV and Pillow)."""
    from nemo_mcp.media.storyboard import (
        storyboard_of,
    )  # PyAV and Pillow: only once there is a file

    board = storyboard_of(file)
    if board is None:
        return []
    times = ", ".join(f"{t:g}" for t in board.times)
    return [
        ImageContent(
            type="image", data=base64.b64encode(board.png).decode(), mime_type="image/png"
        ),
        ResourceLink(
            type="resource_link",
            uri=storyboard_uri(render_id),
            name=f"{render_id}-storyboard.png",
            title="Storyboard",
            mime_type="image/png",
            size=len(board.png),
            description=f"{len(board.times)} frames at {times} s",
        ),
    ]


def add_app(mcp: MCPServer) -> None:
    """Register the storyboard resource (the app's own resource comes with the extension,
    :func:`apps_extension`; the server binds the app's tools with :class:`BindAppForAppHosts`
    from the start, since it may answer ``tools/list`` before registering anything)."""
    from nemo_mcp.mcp.results import resource_errors

    @mcp.resource(
        STORYBOARD,
        name="storyboard",
        title="Render storyboard",
        description="A contact sheet of frames across an exported video, with their times (PNG).",
        mime_type="image/png",
    )
    @resource_errors
    async def storyboard_resource(render_id: str, ctx: Context) -> bytes:
        from nemo_mcp.media.storyboard import storyboard_of

        view = await studio_of(ctx).render_status(render_id, wait=0)  # the owner's only
        source = _video_of(view.model_dump())
        board = await anyio.to_thread.run_sync(storyboard_of, source) if source else None
        if board is None:
            raise ResourceNotFoundError(
                f"Render {render_id} has no finished video to draw a storyboard from "
                f"(status {view.status}); export it first."
            )
        return board.png
