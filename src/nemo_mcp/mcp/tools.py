"""The MCP tools: thin over the studio (validate, call, format), each registered under its name in
``faces.Tool``. Long jobs belong to the studio: a tool call reports progress while it waits
(``context``), returns the result if it comes within the wait budget (default 45 s, under the
60 s some clients enforce) and otherwise returns a handle and the call to make next
(``nemo_wait``) while the job goes on.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote, urlparse

from mcp.server.mcpserver import Context, ListRoots, MCPServer, Resolve
from mcp.types import (
    CallToolResult,
    ContentBlock,
    ImageContent,
    ListRootsResult,
    ResourceLink,
    ToolAnnotations,
)
from pydantic import Field

from nemo_mcp import constants
from nemo_mcp.errors import NemoError
from nemo_mcp.faces import Tool
from nemo_mcp.manifest import SkillManifest
from nemo_mcp.mcp.apps import storyboard_blocks
from nemo_mcp.mcp.context import ProgressRelay, studio_of
from nemo_mcp.mcp.resources import render_uri
from nemo_mcp.mcp.results import JobView, error_result, ok_result, result_of
from nemo_mcp.studio.views import (
    CreditsView,
    NewSessionView,
    RenderView,
    SessionList,
    StateView,
    TurnView,
    UploadResult,
)

if TYPE_CHECKING:
    from nemo_mcp.studio.facade import Studio


def _hints(
    *, read_only: bool, destructive: bool, idempotent: bool, open_world: bool = True
) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


# What each tool does to the world, stated once (clients show these to people).
WRITES = _hints(read_only=False, destructive=False, idempotent=False)  # uploads, paid work
READS = _hints(read_only=True, destructive=False, idempotent=True)  # asks NemoVideo
LOCAL_READS = _hints(read_only=True, destructive=False, idempotent=True, open_world=False)
CANCELS = _hints(read_only=False, destructive=True, idempotent=True)

WaitSeconds = Annotated[
    float | None,
    Field(
        description="Seconds to wait before returning while the work goes on (default 45)",
        ge=0,
        le=constants.MAX_WAIT_BUDGET,
    ),
]
SessionId = Annotated[
    str | None, Field(description="Session (project) id; default: the current one")
]


async def _client_roots(ctx: Context) -> ListRoots | None:
    """Ask for the client's roots only when it declares the capability."""
    caps = ctx.client_capabilities
    if caps is not None and caps.roots is not None:
        return ListRoots()
    return None


def roots_to_paths(result: ListRootsResult | None) -> list[Path] | None:
    """The client's ``file://`` roots as local folders (None when it gave none)."""
    if result is None or not result.roots:
        return None
    out = []
    for root in result.roots:
        uri = str(root.uri)
        if uri.startswith("file://"):
            out.append(Path(unquote(urlparse(uri).path)))
    return out or None


async def _job_view(
    studio: Studio, job_id: str | None, wait: float | None, relay: ProgressRelay
) -> JobView:
    job_id = job_id or studio.latest_job()
    if job_id.startswith("turn_"):
        turn = await studio.turn_status(job_id, wait=wait, on_progress=relay)
        return JobView(job_id=job_id, kind="turn", done=turn.done, turn=turn)
    render = await studio.render_status(job_id, wait=wait, on_progress=relay)
    return JobView(job_id=job_id, kind="render", done=render.done, render=render)


def _render_extras(view: RenderView) -> list[ContentBlock]:
    """An export's file (or, hosted, its URL) as a link, its poster frame and storyboard, and
    the render's status resource."""
    from nemo_mcp.media.frames import poster_frame  # PyAV and Pillow: only once there is a file

    extras: list[ContentBlock] = []
    if view.file and Path(view.file).exists():
        path = Path(view.file)
        extras.append(
            ResourceLink(
                type="resource_link",
                uri=path.resolve().as_uri(),
                name=path.name,
                title="Exported video",
                mime_type="video/mp4",
                size=view.size_bytes,
                description=f"The rendered MP4 ({view.width}x{view.height}, {view.duration_s} s)",
            )
        )
        poster = poster_frame(path)
        if poster:
            extras.append(
                ImageContent(
                    type="image", data=base64.b64encode(poster).decode(), mime_type="image/jpeg"
                )
            )
        extras.extend(storyboard_blocks(view.render_id, path))
    elif view.done and view.status == "completed" and view.url:  # hosted: the video's URL
        extras.append(
            ResourceLink(
                type="resource_link",
                uri=view.url,
                name=f"{view.render_id}.mp4",
                title="Exported video",
                mime_type="video/mp4",
            )
        )
        poster = poster_frame(view.url)
        if poster:
            extras.append(
                ImageContent(
                    type="image", data=base64.b64encode(poster).decode(), mime_type="image/jpeg"
                )
            )
        extras.extend(storyboard_blocks(view.render_id, view.url))
    extras.append(
        ResourceLink(
            type="resource_link",
            uri=render_uri(view.render_id),
            name=view.render_id,
            mime_type="application/json",
            title="Render status",
        )
    )
    return extras


def add_tools(mcp: MCPServer, manifest: SkillManifest) -> None:
    """Register every tool; the descriptions carry this installation's limits and examples."""
    gen, edit = constants.GENERATION_CREDITS, constants.EDIT_CREDITS

    # -- upload --------------------------------------------------------------------------
    @mcp.tool(
        name=str(Tool.UPLOAD),
        title="Upload media to NemoVideo",
        annotations=WRITES,
        description=(
            "Upload the user's songs, photos or clips to the current session: local paths "
            "(inside the allowed folders, narrowed by the client's roots if any) and/or http(s) "
            "URLs, several "
            "at once. mp4 mov avi webm mkv jpg png gif webp mp3 wav m4a aac, at most "
            f"{manifest.max_upload_mb} MB each; checked before anything is sent. Free."
        ),
    )
    async def nemo_upload(
        items: Annotated[
            list[str],
            Field(min_length=1, max_length=20, description="Local paths and/or http(s) URLs"),
        ],
        ctx: Context,
        roots: Annotated[ListRootsResult | None, Resolve(_client_roots)] = None,
        session_id: SessionId = None,
    ) -> Annotated[CallToolResult, UploadResult]:
        return await result_of(
            studio_of(ctx).upload(
                items,
                session_id=session_id,
                roots=roots_to_paths(roots),
                on_progress=ProgressRelay(ctx),
            ),
            manifest,
        )

    # -- chat ----------------------------------------------------------------------------
    @mcp.tool(
        name=str(Tool.CHAT),
        title="Ask the NemoVideo editing agent",
        annotations=WRITES,
        description=(
            "Send ONE message to NemoVideo's editing agent: what to make or change, e.g. "
            f'"{manifest.examples[0]}" or \'add a title "Summer" from 0 to 3 seconds\'. Sent '
            f"once, never resent. Costs credits (estimates: about {gen} to generate, {edit} "
            "an edit). Returns the agent's reply (or what changed) and the timeline; work "
            f"that outlives wait_seconds goes on ({Tool.WAIT})."
        ),
    )
    async def nemo_chat(
        message: Annotated[
            str,
            Field(
                min_length=1, max_length=4000, description="What to make or change, in plain words"
            ),
        ],
        ctx: Context,
        session_id: SessionId = None,
        wait_seconds: WaitSeconds = None,
        force: Annotated[
            bool, Field(description="Send even if this exact message was just sent (charged again)")
        ] = False,
    ) -> Annotated[CallToolResult, TurnView]:
        return await result_of(
            studio_of(ctx).chat(
                message,
                session_id=session_id,
                wait=wait_seconds,
                on_progress=ProgressRelay(ctx),
                force=force,
            ),
            manifest,
        )

    # -- state ---------------------------------------------------------------------------
    @mcp.tool(
        name=str(Tool.STATE),
        title="Show the timeline",
        annotations=READS,
        description=(
            "Show the session's timeline (tracks with times and volumes), its media, and "
            "whether it can be exported. Free. Also the resource "
            "nemo://sessions/{session_id}/timeline."
        ),
    )
    async def nemo_get_state(
        ctx: Context, session_id: SessionId = None
    ) -> Annotated[CallToolResult, StateView]:
        return await result_of(studio_of(ctx).state(session_id=session_id), manifest)

    # -- credits -------------------------------------------------------------------------
    @mcp.tool(
        name=str(Tool.CREDITS),
        title="Check NemoVideo credits",
        annotations=READS,
        description=(
            f"Show the credit balance. Estimates: generating about {gen} credits, an edit "
            f"about {edit}; exporting is free. Anonymous accounts start with "
            f"{constants.ANONYMOUS_START_CREDITS} and get a registration link for more."
        ),
    )
    async def nemo_get_credits(ctx: Context) -> Annotated[CallToolResult, CreditsView]:
        return await result_of(studio_of(ctx).credits(), manifest)

    # -- export --------------------------------------------------------------------------
    @mcp.tool(
        name=str(Tool.EXPORT),
        title="Export the video as MP4",
        annotations=WRITES,
        description=(
            "Render the timeline to MP4 (free), download it into the output folder and check "
            "it. Returns the file, a link, a poster frame and a storyboard. Renders take "
            "30-90 s; one that "
            f"outlives wait_seconds goes on and downloads by itself ({Tool.WAIT}). An unchanged "
            "timeline is not rendered twice."
        ),
    )
    async def nemo_export(
        ctx: Context,
        session_id: SessionId = None,
        filename: Annotated[
            str | None, Field(max_length=120, description="Name for the MP4")
        ] = None,
        wait_seconds: WaitSeconds = None,
        overwrite: Annotated[
            bool, Field(description="Replace an existing file of that name")
        ] = False,
        force: Annotated[
            bool, Field(description="Render again even if this timeline was exported")
        ] = False,
    ) -> Annotated[CallToolResult, RenderView]:
        return await result_of(
            studio_of(ctx).export(
                session_id=session_id,
                wait=wait_seconds,
                on_progress=ProgressRelay(ctx),
                filename=filename,
                overwrite=overwrite,
                force=force,
            ),
            manifest,
            _render_extras,
        )

    # -- jobs ----------------------------------------------------------------------------
    @mcp.tool(
        name=str(Tool.WAIT),
        title="Wait for a chat turn or render",
        annotations=READS,
        description=(
            "Wait for a chat turn or render that outlived an earlier call (default: the "
            "current session's latest), reporting progress. Never resends anything."
        ),
    )
    async def nemo_wait(
        ctx: Context,
        job_id: Annotated[
            str | None,
            Field(
                pattern=r"^(turn|render)_[A-Za-z0-9_]+$",
                description="A turn_... or render_... id; default: the latest job",
            ),
        ] = None,
        wait_seconds: WaitSeconds = None,
    ) -> Annotated[CallToolResult, JobView]:
        return await result_of(
            _job_view(studio_of(ctx), job_id, wait_seconds, ProgressRelay(ctx)),
            manifest,
            lambda view: _render_extras(view.render) if view.render and view.done else None,
        )

    @mcp.tool(
        name=str(Tool.CANCEL_RENDER),
        title="Cancel a render",
        annotations=CANCELS,
        description="Cancel a render that is still running (on NemoVideo too).",
    )
    async def nemo_cancel_render(
        render_id: Annotated[
            str, Field(pattern=r"^render_[A-Za-z0-9_]+$", description="The render to cancel")
        ],
        ctx: Context,
    ) -> Annotated[CallToolResult, RenderView]:
        return await result_of(studio_of(ctx).cancel_render(render_id), manifest)

    # -- sessions ------------------------------------------------------------------------
    @mcp.tool(
        name=str(Tool.NEW_SESSION),
        title="Start a new NemoVideo project",
        annotations=WRITES,
        description=(
            "Start a new, empty session (project) and make it current. Earlier sessions keep "
            "their timelines. Free."
        ),
    )
    async def nemo_new_session(
        ctx: Context,
        language: Annotated[
            str | None, Field(max_length=16, description="e.g. en, zh-CN, ja")
        ] = None,
        title: Annotated[str | None, Field(max_length=80, description="A name for it")] = None,
    ) -> Annotated[CallToolResult, NewSessionView]:
        return await result_of(studio_of(ctx).new_session(language=language, title=title), manifest)

    @mcp.tool(
        name=str(Tool.LIST_SESSIONS),
        title="List NemoVideo sessions",
        annotations=LOCAL_READS,
        description="List the sessions (projects) known here, newest first, and the current "
        "one; pass session_id to other tools to work on an older one.",
    )
    async def nemo_list_sessions(ctx: Context) -> Annotated[CallToolResult, SessionList]:
        try:
            return ok_result(studio_of(ctx).list_sessions(), manifest)
        except NemoError as err:
            return error_result(err)
