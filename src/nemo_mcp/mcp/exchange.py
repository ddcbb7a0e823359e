"""Stateless streamable HTTP: a handshake-era request served in its own POST, as one exchange.

With ``stateless_http=True`` the SDK serves each POST of a client speaking a handshake-era
protocol (2025-11-25 and earlier: every TypeScript-SDK host) by building a whole connection for
it: a transport with four memory streams, a dispatcher and a server loop in a new task, and an
``EventSourceResponse`` with its own task group, all torn down after one answer. That costs
about 0.9 ms of CPU per call, a third of the server's work for a cheap tool
(``python3 dev.py bench --only concurrency``). Yet such a POST is one exchange: one request in,
its notifications and its answer out on the response's event stream, no request back to the
client (stateless: its reply would have nowhere to land).

:func:`serve_exchanges` puts :class:`OneExchange` in front of the SDK's handler: a POST whose
body is one JSON-RPC request (other than ``initialize``) from a handshake-era client is run
with the SDK's own single-request driver (``serve_one``, the one its 2026-07-28 entry uses) on
the same born-ready connection the SDK would build (protocol version from the
``MCP-Protocol-Version`` header), and answered on the event stream exactly as before (status
200, ``event: message`` frames, a comment ping every 15 s of silence). Everything else, and any
request the SDK's own checks would refuse (Host and Origin, Accept, Content-Type, a body that
is not one valid request), goes to the SDK unchanged, with the body it sent, so it answers as it
always has. A client that disconnects cancels its request, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import anyio
import pydantic_core
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.connection import Connection
from mcp.server.runner import serve_one
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import RequestBodyLimitMiddleware, TransportSecurityMiddleware
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.jsonrpc_dispatcher import (
    handler_exception_to_error_data,
    progress_token_from_params,
)
from mcp.shared.message import MessageMetadata, ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    ProgressToken,
    RequestId,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from mcp.server.lowlevel.server import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

log = logging.getLogger(__name__)

PING_SECONDS: Final = 15.0  # a comment line after this long without an event (proxies' idle reads)
SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]
TRANSPORT: Final = TransportContext(kind="streamable-http", can_send_request=False)


def serve_exchanges(manager: StreamableHTTPSessionManager) -> None:
    """Answer handshake-era single requests of a stateless ``manager`` as one exchange each.

    Call after ``streamable_http_app()`` built the manager; a stateful manager, or one answering
    in JSON rather than on event streams, is left as is."""
    if not manager.stateless or manager.json_response:
        return
    sdk = manager._handle_request  # what the manager's ASGI app ran
    manager.asgi_app = RequestBodyLimitMiddleware(
        OneExchange(manager, sdk), manager.max_request_body_size
    )


def sse_frame(message: JSONRPCResponse | JSONRPCError | JSONRPCNotification) -> bytes:
    """One ``event: message`` frame, the message serialized as the SDK's transport does."""
    data = message.model_dump_json(by_alias=True, exclude_unset=True)
    return f"event: message\r\ndata: {data}\r\n\r\n".encode()


@dataclass
class ExchangeContext:
    """The SDK's ``DispatchContext`` for one request: notifications and progress go onto this
    request's event stream; requests to the client are refused (stateless, no back channel)."""

    request_id: RequestId
    message_metadata: MessageMetadata
    sink: MemoryObjectSendStream[bytes]
    progress_token: ProgressToken | None = None
    transport: TransportContext = TRANSPORT
    cancel_requested: anyio.Event = field(default_factory=anyio.Event)
    can_send_request: bool = False

    async def send_raw_request(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> dict[str, Any]:
        raise NoBackChannelError(method)

    async def notify(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> None:
        note = JSONRPCNotification(
            jsonrpc="2.0", method=method, params=dict(params) if params is not None else None
        )
        try:
            await self.sink.send(sse_frame(note))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.debug("dropped %s: the response stream is closed", method)

    async def progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        if self.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.notify("notifications/progress", params)


class OneExchange:
    """The stateless manager's handler: handshake-era single requests here, the rest to ``sdk``."""

    def __init__(self, manager: StreamableHTTPSessionManager, sdk: ASGIApp) -> None:
        self._manager = manager
        self._sdk = sdk
        self._security = TransportSecurityMiddleware(manager.security_settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self._sdk(scope, receive, send)
            return
        first = await receive()  # the whole body: the body limit in front buffered it
        replay = _replaying(first, receive)
        request = Request(scope, replay)
        version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
        req = None
        if (
            self._manager._task_group is not None  # running (else the SDK says so)
            and (version is None or version in HANDSHAKE_PROTOCOL_VERSIONS)
            and first["type"] == "http.request"
            and not first.get("more_body", False)
            and request.headers.get("content-type", "").split(";")[0].strip() == "application/json"
            and all(check_accept_headers(request))
            and await self._security.validate_request(request, is_post=True) is None
        ):
            req = _one_request(first.get("body", b""))
        if req is None:
            await self._sdk(scope, replay, send)
            return
        await self._serve(req, version or DEFAULT_NEGOTIATED_VERSION, request, receive, send)

    async def _serve(
        self, req: JSONRPCRequest, version: str, request: Request, receive: Receive, send: Send
    ) -> None:
        outbox, inbox = anyio.create_memory_object_stream[bytes](0)
        context = ExchangeContext(
            request_id=req.id,
            message_metadata=ServerMessageMetadata(request_context=request),
            sink=outbox,
            progress_token=progress_token_from_params(req.params),
        )
        app: Server[Any] = self._manager.app
        state = self._manager._lifespan_state
        answer: list[bytes] = []

        async def handle() -> None:
            async with outbox:
                connection = Connection.from_envelope(version, None, None)
                try:
                    result = await serve_one(
                        app, context, req.method, req.params,
                        connection=connection, lifespan_state=state,
                    )  # fmt: skip
                    reply: JSONRPCResponse | JSONRPCError = JSONRPCResponse(
                        jsonrpc="2.0", id=req.id, result=result
                    )
                except Exception as exc:
                    reply = JSONRPCError(jsonrpc="2.0", id=req.id, error=_error_data(exc, req))
                answer.append(sse_frame(reply))

        async def disconnected(scope: anyio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            context.cancel_requested.set()
            scope.cancel()

        async with inbox, anyio.create_task_group() as tg:
            tg.start_soon(handle)
            tg.start_soon(disconnected, tg.cancel_scope)
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            while True:
                event = b": ping\r\n\r\n"
                with anyio.move_on_after(PING_SECONDS):
                    try:
                        event = await inbox.receive()
                    except anyio.EndOfStream:
                        break
                await send({"type": "http.response.body", "body": event, "more_body": True})
            if answer:
                await send({"type": "http.response.body", "body": answer[0], "more_body": False})
            tg.cancel_scope.cancel()


def _replaying(first: Message, receive: Receive) -> Receive:
    """``receive`` with ``first`` given back once more, for a handler that did not see it."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _one_request(body: bytes) -> JSONRPCRequest | None:
    """The body's one JSON-RPC request, or None when it is anything else (the SDK answers)."""
    try:
        decoded = pydantic_core.from_json(body)  # as the SDK's transport reads a body
    except ValueError:
        return None
    if (
        not isinstance(decoded, dict)
        or "id" not in decoded
        or "result" in decoded
        or "error" in decoded
        or decoded.get("method") in (None, "initialize")
    ):
        return None
    try:
        return JSONRPCRequest.model_validate(decoded)
    except ValidationError:
        return None


def _error_data(exc: Exception, req: JSONRPCRequest) -> ErrorData:
    """A failed request's error, as the SDK's handshake-era dispatcher answers it: its mapping
    (protocol errors, invalid parameters), else code 0 with the exception's text (the server's
    own words, such as "Unknown prompt: x"), logged as the SDK logs it."""
    mapped = handler_exception_to_error_data(exc)
    if mapped is not None:
        return mapped
    log.error("handler for %r raised", req.method, exc_info=exc)
    return ErrorData(code=0, message=str(exc))
