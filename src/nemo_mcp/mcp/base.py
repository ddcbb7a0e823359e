"""``NemoMCPServer``: the SDK's ``MCPServer`` with one error path for every tool, compact tool
schemas, cache hints, and a completion handler that sees the request (for the client's roots and
the studio).

Every tool failure passes through :meth:`NemoMCPServer.call_tool`, whatever raised it:
arguments that fail the input schema, an unknown tool name, a ``NemoError`` that escaped a tool,
or a crash. Each becomes the same readable error result (``results.error_result``) instead of
the SDK's raw text (``Error executing tool ...: 1 validation error for ...``). ``MCPError`` (a
protocol error) and an ``InputRequiredResult`` (a resolver asking the client) pass through.

Start-up stays light: the tools, resources and prompts are registered by ``defer``-ed
installers that run on the first request needing them, ``tools/list`` answers from the saved
catalog (``catalog``) when it is current, and the studio opens in its slot (``slot``) when a
call needs it or shortly after the first ``tools/list``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Iterable
from importlib import resources
from typing import Any

from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, Icon, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    GetPromptResult,
    InputRequiredResult,
    Prompt,
    Resource,
    ResourceTemplate,
    Tool,
)
from pydantic import AnyUrl, ValidationError
from starlette.applications import Starlette

from nemo_mcp.errors import InternalError, NemoError
from nemo_mcp.mcp.catalog import Catalog
from nemo_mcp.mcp.slot import StudioSlot

log = logging.getLogger(__name__)

Completer = Callable[[ServerRequestContext[Any, Any], CompleteRequestParams], Awaitable[Completion]]

_SDK_PREFIX = "Error executing tool "

# The lists never change while a server runs; clients may reuse them for this long (2026-07-28
# caching hints). Private: the tool descriptions carry this installation's settings.
LIST_CACHE = CacheHint(ttl_ms=10 * 60 * 1000, scope="private")
CACHE_HINTS: dict[CacheableMethod, CacheHint] = {
    "tools/list": LIST_CACHE,
    "prompts/list": LIST_CACHE,
    "resources/list": LIST_CACHE,
    "resources/templates/list": LIST_CACHE,
    "server/discover": LIST_CACHE,
}


def server_icons() -> list[Icon]:
    """The icon clients show for the server: a PNG (every client) and an SVG (any size), as data
    URIs, so showing it never reaches the network."""
    assets = resources.files("nemo_mcp") / "assets"
    png = base64.b64encode((assets / "icon.png").read_bytes()).decode()
    svg = base64.b64encode((assets / "icon.svg").read_bytes()).decode()
    return [
        Icon(src=f"data:image/png;base64,{png}", mime_type="image/png", sizes=["64x64"]),
        Icon(src=f"data:image/svg+xml;base64,{svg}", mime_type="image/svg+xml", sizes=["any"]),
    ]


def compact_schema(schema: Any, *, output: bool = False) -> Any:
    """A JSON schema without what neither a model nor a validator needs: generated titles,
    defaults and model docstrings. ``anyOf [X, null]`` becomes ``type: [X, "null"]`` for
    arguments, and plain ``X`` for output (results leave out what is unknown, never null)."""
    if isinstance(schema, list):
        return [compact_schema(item, output=output) for item in schema]
    if not isinstance(schema, dict):
        return schema
    drop = {"title", "default"} | ({"description"} if "properties" in schema else set())
    out = {k: compact_schema(v, output=output) for k, v in schema.items() if k not in drop}
    if isinstance(schema.get("properties"), dict):  # property names are not keywords
        out["properties"] = {
            k: compact_schema(v, output=output) for k, v in schema["properties"].items()
        }
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        if output:
            del out["anyOf"]
            out = {**other, **out}
        elif isinstance(other.get("type"), str) and not {"anyOf", "$ref"} & set(other):
            del out["anyOf"]
            out = {**other, **out, "type": [other["type"], "null"]}
    return out


class NemoMCPServer(MCPServer[Any]):
    def __init__(self, *args: Any, catalog: Catalog | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalog = catalog  # the saved tools/list answer, if any
        self._installers: list[Callable[[], None]] = []
        self._listed: list[Tool] | None = None
        self.on_listing: Callable[[], None] | None = None  # after each tools/list

    def streamable_http_app(self, **options: Any) -> Starlette:
        """The SDK's app; when stateless, handshake-era single requests are served as one
        exchange each instead of a connection built per request (``exchange``)."""
        from nemo_mcp.mcp.exchange import serve_exchanges

        app = super().streamable_http_app(**options)
        serve_exchanges(self.session_manager)
        return app

    def defer(self, install: Callable[[], None]) -> None:
        """Run ``install`` (registering tools, resources, prompts) on the first request that
        needs what it registers, instead of at start-up."""
        self._installers.append(install)

    def _install(self) -> None:
        while self._installers:
            self._installers[0]()  # one that fails stays, to fail (or succeed) on the next use
            self._installers.pop(0)

    async def list_tools(self) -> list[Tool]:
        """The tools, with compact schemas (a third of the bytes), built once per process and
        saved between runs (``catalog``)."""
        tools = self._listed
        if tools is None:
            saved = self.catalog.load() if self.catalog is not None else None
            if saved is not None:
                tools = [Tool.model_validate(t) for t in saved]
            else:
                self._install()
                tools = [
                    tool.model_copy(
                        update={
                            "input_schema": compact_schema(tool.input_schema),
                            "output_schema": compact_schema(tool.output_schema, output=True),
                        }
                    )
                    for tool in await super().list_tools()
                ]
                if self.catalog is not None and tools:
                    self.catalog.save([t.model_dump(mode="json", by_alias=True) for t in tools])
            self._listed = tools
        if self.on_listing is not None:
            self.on_listing()
        return list(tools)

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        self._install()
        return super()._tool_input_schema(name)

    async def list_resources(self) -> list[Resource]:
        self._install()
        return await super().list_resources()

    async def list_resource_templates(self) -> list[ResourceTemplate]:
        self._install()
        return await super().list_resource_templates()

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        self._install()
        await _studio_ready(context)
        return await super().read_resource(uri, context)

    async def list_prompts(self) -> list[Prompt]:
        self._install()
        return await super().list_prompts()

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[Any, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        """The prompt; an unknown name or a missing required argument is the caller's mistake,
        told as invalid parameters (-32602) in words, instead of the SDK's error with code 0
        (or, on the 2026-07-28 path, "Internal server error") and a traceback in the log."""
        self._install()
        known = {prompt.name: prompt for prompt in await self.list_prompts()}
        prompt = known.get(name)
        if prompt is None:
            raise MCPError(
                INVALID_PARAMS, f"Unknown prompt: {name}. The prompts: {', '.join(sorted(known))}."
            )
        given = {k: v for k, v in (arguments or {}).items() if v is not None and str(v).strip()}
        missing = [a.name for a in prompt.arguments or [] if a.required and a.name not in given]
        if missing:
            raise MCPError(
                INVALID_PARAMS, f"The prompt {name} needs these arguments: {', '.join(missing)}."
            )
        return await super().get_prompt(name, arguments, context)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        from nemo_mcp.mcp.results import error_result

        self._install()
        try:
            await _studio_ready(context)
            return await super().call_tool(name, arguments, context)
        except MCPError:
            raise
        except ToolError as exc:
            return error_result(await self._explain(name, exc))
        except NemoError as err:  # the studio could not open
            return error_result(err)

    async def _explain(self, name: str, exc: ToolError) -> NemoError:
        from nemo_mcp.mcp.arguments import invalid_arguments, unknown_tool

        cause = exc.__cause__
        tools = await self.list_tools()
        if isinstance(cause, ValidationError) and not isinstance(exc, UnexpectedToolError):
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in cause.errors()})
            log.info("tool %r rejected arguments: %r", name, fields)  # names only, not values
            schema = next((t.input_schema for t in tools if t.name == name), None)
            return invalid_arguments(cause, schema)
        if cause is None and name not in {t.name for t in tools}:
            log.info("unknown tool %r", name)
            return unknown_tool(name, [t.name for t in tools])
        while isinstance(cause, ToolError) and cause.__cause__ is not None:
            cause = cause.__cause__  # a nested wrapper: find what was raised
        if isinstance(cause, NemoError):
            return cause
        if isinstance(exc, UnexpectedToolError):
            log.error("tool %r raised an unexpected exception", name, exc_info=exc)
            return InternalError(f"nemo-mcp hit an unexpected problem running {name}.")
        log.info("tool %r failed: %r", name, str(exc))
        message = str(exc).removeprefix(f"{_SDK_PREFIX}{name}: ")
        return NemoError(message, hint="Check the arguments, then try again.")

    def completer(self, fn: Completer) -> Completer:
        """Serve ``completion/complete`` with ``fn(request_context, params)``.

        The SDK's ``@completion()`` decorator hands its function only the reference and the
        argument; completing file names from the client's roots needs the request itself, so
        this registers the handler the same way that decorator does, one level down.
        """

        async def handler(
            ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams
        ) -> CompleteResult:
            try:
                completion = await fn(ctx, params)
            except MCPError:
                raise
            except Exception:  # a completion is a convenience: never an error for the user
                log.exception("completion for %r failed", params.argument.name)
                completion = Completion(values=[])
            return CompleteResult(completion=completion)

        self._lowlevel_server.add_request_handler(
            "completion/complete", CompleteRequestParams, handler
        )
        return fn


async def _studio_ready(context: Context[Any, Any] | None) -> None:
    """Open the request's studio before its handler runs (the handler reads it without
    waiting, ``context.studio_of``)."""
    if context is None or context._request_context is None:
        return
    slot = context._request_context.lifespan_context
    if isinstance(slot, StudioSlot):
        await slot.get()
