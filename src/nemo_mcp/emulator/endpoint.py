"""How a request reaches a handler: the request log, fault injection, errors as envelopes.

Every route of the app is an :class:`Endpoint` named for the faults that target it. A handler
gets a :class:`Ctx` and returns a response (or streams one itself and returns None); a
:class:`~nemo_mcp.emulator.envelope.Reject` it raises becomes the contract's error envelope.
:class:`RecorderMiddleware` records every request with the status it got; headers every answer
should carry (CORS, say) belong in the middleware list of :func:`~nemo_mcp.emulator.app.create_app`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nemo_mcp.contract.envelopes import Shape
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.core import Emulator
from nemo_mcp.emulator.envelope import Reject, error_response
from nemo_mcp.emulator.faults import Fault
from nemo_mcp.emulator.http import (
    EmulatedBreak,
    break_connection,
    send_truncated,
    wait_for_disconnect,
)
from nemo_mcp.emulator.records import RequestRecord
from nemo_mcp.emulator.state import EmulatorState

log = logging.getLogger(__name__)

JSON_LIMIT: Final = 32 * 1024 * 1024
SCOPE_RECORD: Final = "nemo_emulator.record"


@dataclass
class Ctx:
    """What a handler gets: the emulator, the request, its record and the fault to inject."""

    emu: Emulator
    request: Request
    scope: Scope
    receive: Receive
    send: Send
    record: RequestRecord
    fault: Fault | None

    @property
    def state(self) -> EmulatorState:
        return self.emu.state

    @property
    def config(self) -> EmulatorConfig:
        return self.emu.config

    @property
    def base_url(self) -> str:
        return (self.config.public_url or str(self.request.base_url)).rstrip("/")

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def user_id(self) -> str:
        return self.state.authenticate(self.header("authorization")).user_id

    def path_param(self, name: str) -> str:
        return str(self.request.path_params[name])

    async def json(self, limit: int = JSON_LIMIT) -> Any:
        length = self.header("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise Reject(413, "Request body too large")
        chunks: list[bytes] = []
        total = 0
        async for chunk in self.request.stream():
            total += len(chunk)
            if total > limit:
                raise Reject(413, "Request body too large")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise Reject(400, "Request body is not valid JSON") from None

    def client_host(self) -> str | None:
        client = self.scope.get("client")
        return str(client[0]) if client else None


Handler = Callable[[Ctx], Awaitable[Response | None]]


class TrackedReceive:
    """``receive`` that remembers whether the request body has been read to the end."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.done = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            self.done = True
        return message

    async def drain(self) -> None:
        """Read and drop the rest of the body, so an early answer reaches the client cleanly
        instead of a reset while it is still sending."""
        while not self.done:
            await self()


class Endpoint:
    """An ASGI endpoint: fault injection, the handler, errors as envelopes."""

    def __init__(
        self, emu: Emulator, name: str | None, handler: Handler, *, shape: Shape = "code"
    ) -> None:
        self.emu = emu
        self.name = name
        self.handler = handler
        self.shape = shape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emu = self.emu
        record: RequestRecord | None = scope.get(SCOPE_RECORD)
        if record is None:
            record = new_record(scope)
            emu.state.record(record)
        record.endpoint = self.name
        fault = emu.state.faults.take(self.name) if self.name else None
        tracked = TrackedReceive(receive)
        ctx = Ctx(emu, Request(scope, tracked), scope, tracked, send, record, fault)
        if fault is not None:
            record.fault = fault.spec
            if fault.delay:
                await anyio.sleep(fault.delay)
            if fault.action == "respond":
                code = fault.code if fault.code is not None else int(fault.status or 500)
                reject = Reject(code, fault.message or None, status=fault.status)
                await tracked.drain()
                await self._respond(ctx, error_response(reject, self.shape))
                return
            if fault.action == "reset":
                await break_connection(emu.connections, scope, reset=True)
                return
            if fault.action == "hang":
                await wait_for_disconnect(receive)
                return
        try:
            response = await self.handler(ctx)
        except Reject as reject:
            if record.status is not None:  # a streamed response already started
                raise
            force = self.emu.config.error_status == "200"
            response = error_response(reject, self.shape, force_200=force)
            await tracked.drain()
        except EmulatedBreak:
            raise
        except Exception as exc:
            if record.status is not None:
                raise
            log.exception("%s failed", self.name or scope.get("path"))
            response = error_response(Reject(500, f"{type(exc).__name__}: {exc}"), self.shape)
        if response is not None:
            await self._respond(ctx, response)

    async def _respond(self, ctx: Ctx, response: Response) -> None:
        fault = ctx.fault
        if fault is not None and fault.action in ("truncate", "drop"):
            await send_truncated(
                ctx.send,
                self.emu.connections,
                ctx.scope,
                status=response.status_code,
                headers=list(response.raw_headers),
                body=bytes(response.body),
                keep=fault.arg,
            )
            return
        await response(ctx.scope, ctx.receive, ctx.send)


def new_record(scope: Scope) -> RequestRecord:
    client = scope.get("client")
    return RequestRecord(
        method=str(scope.get("method", "")),
        path=str(scope.get("path", "")),
        query=bytes(scope.get("query_string", b"")).decode("latin-1"),
        headers=[(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
        client=str(client[0]) if client else None,
        endpoint=None,
        at=time.time(),
    )


class RecorderMiddleware:
    """Records every HTTP request (headers verbatim) and the status it got."""

    def __init__(self, app: ASGIApp, emu: Emulator) -> None:
        self.app = app
        self.emu = emu

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = new_record(scope)
        self.emu.state.record(record)
        scope[SCOPE_RECORD] = record

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            await send(message)

        await self.app(scope, receive, send_wrapper)


def control_only(handler: Handler) -> Handler:
    """``handler`` for the clients the emulator's ``control_allowed`` accepts; 403 for others."""

    async def guarded(ctx: Ctx) -> Response | None:
        if not ctx.emu.control_allowed(ctx.client_host()):
            raise Reject(403, "The emulator control API only answers loopback clients")
        return await handler(ctx)

    return guarded
