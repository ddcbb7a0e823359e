"""What a tool call gives an MCP client: the one place a result, or an error, takes its shape.

A result has a short text for the model (everything it needs, its sentences then one ``Next:``
line naming only this face's tools) and structured content for programs, matching the tool's
compact output schema. Many hosts show the model only the text.

Hosts built on the TypeScript SDK 1.x, and the MCP Inspector, check a result's
``structuredContent`` against the tool's ``outputSchema`` even when ``isError`` is true; a
mismatch turns the whole answer into a protocol error that neither the model nor the person
ever reads. So an error result carries no ``structuredContent`` at all. Its text says the
error's kind, what happened and the next step; the same facts, machine-readable, sit in
``_meta`` under :data:`ERROR_META_KEY`, which clients pass through without validating. A
resource read that fails says the same (``resource_errors``). A token never appears in any of
them (``redact`` scrubs registered secrets).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, ParamSpec, TypeVar

import anyio
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import CallToolResult, ContentBlock, TextContent
from pydantic import BaseModel, WithJsonSchema

from nemo_mcp.errors import InvalidInputError, NemoError, RenderNotFoundError, SessionNotFoundError
from nemo_mcp.faces import Tool
from nemo_mcp.manifest import SkillManifest
from nemo_mcp.redact import redact
from nemo_mcp.studio import next_steps
from nemo_mcp.studio.texts import lines_for
from nemo_mcp.studio.views import RenderView, TurnView

ERROR_META_KEY = "com.nemovideo/error"

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


class JobView(BaseModel):
    """A chat turn or a render, whichever the job id names (each as its own tool gives it)."""

    job_id: str
    kind: Literal["turn", "render"]
    done: bool
    turn: Annotated[
        TurnView | None,
        WithJsonSchema({"type": "object", "description": f"as {Tool.CHAT} gives"}),
    ] = None
    render: Annotated[
        RenderView | None,
        WithJsonSchema({"type": "object", "description": f"as {Tool.EXPORT} gives"}),
    ] = None


# --- results ------------------------------------------------------------------------------
def text_for(view: BaseModel, manifest: SkillManifest) -> str:
    """The whole text a model reads for a result: the sentences, then one ``Next:`` line."""
    if isinstance(view, JobView):
        inner = view.turn or view.render
        assert inner is not None
        view = inner
    lines = lines_for(view)
    nxt = next_steps.mcp_line(next_steps.steps_for(view, manifest))
    if nxt:
        lines.append(nxt)
    return redact("\n".join(lines))


def ok_result(
    view: BaseModel, manifest: SkillManifest, extra: list[ContentBlock] | None = None
) -> CallToolResult:
    data = json.loads(redact(view.model_dump_json(exclude_none=True)))
    content: list[ContentBlock] = [TextContent(type="text", text=text_for(view, manifest))]
    content.extend(extra or [])
    return CallToolResult(content=content, structured_content=data, is_error=False)


async def result_of(
    work: Awaitable[M],
    manifest: SkillManifest,
    extras: Callable[[M], list[ContentBlock] | None] | None = None,
) -> CallToolResult:
    """Await the studio, format the view; a NemoError becomes an actionable error result.
    ``extras`` run in a worker thread (a poster or storyboard may read a video over the
    network: never on the event loop other requests share)."""
    try:
        view = await work
    except NemoError as err:
        return error_result(err)
    blocks = await anyio.to_thread.run_sync(extras, view) if extras else None
    return ok_result(view, manifest, blocks)


# --- errors -------------------------------------------------------------------------------
def error_text(err: NemoError) -> str:
    """``Error (<kind>): <what happened>`` and ``Next step: <hint>``: what a model must read."""
    text = f"Error ({err.kind}): {err.message}"
    if err.hint:
        text += f"\nNext step: {err.hint}"
    return redact(text)


def error_result(err: NemoError) -> CallToolResult:
    """The one shape of a failed tool call: text for people and models, ``_meta`` for programs,
    and no ``structuredContent`` (which an output schema would reject)."""
    details = json.loads(redact(json.dumps(err.to_dict(), ensure_ascii=False)))
    return CallToolResult(
        content=[TextContent(type="text", text=error_text(err))],
        is_error=True,
        _meta={ERROR_META_KEY: details},
    )


def resource_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """For a resource handler: a session or render that does not exist is "not found"
    (JSON-RPC -32602, as the 2026-07-28 revision asks), any other ``NemoError`` a resource error
    carrying the same text as a tool's error result (instead of a crash with a generic text)."""

    @functools.wraps(fn)
    async def read(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (SessionNotFoundError, RenderNotFoundError, InvalidInputError) as err:
            raise ResourceNotFoundError(error_text(err)) from err
        except NemoError as err:
            raise ResourceError(error_text(err)) from err

    return read
