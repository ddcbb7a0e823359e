"""The emulator's ASGI app: every endpoint of the wire contract plus a loopback-only control API.

Contract endpoints (fault names in brackets; see faults.py)::

    POST /api/auth/anonymous-token                   [token]
    POST /api/tasks/me/with-session/nemo_agent        [session]
    POST /api/auth/claim-token                        [claim]
    POST /run_sse                                     [run_sse]
    POST /api/upload-video/nemo_agent/me/<sid>        [upload]
    GET  /api/credits/balance/simple                  [credits]
    GET  /api/state/nemo_agent/me/<sid>/latest        [state]
    POST /api/render/proxy/lambda                     [render_submit]
    GET  /api/render/proxy/lambda/<id>                [render_poll]
    POST /api/render/proxy/lambda/<id>/cancel         [render_cancel]
    GET  /api/render/proxy/<id>/download              [download]
    GET  /cdn/media/<mid>/<name>, /cdn/renders/<id>.mp4 (no auth; Range support)  [cdn]

Errors are envelopes ``{"code", "message", "data"}`` (render endpoints add ``"success": false``
and ``"error"``). Envelope codes and their HTTP statuses: 1001 -> 401, 1002 -> 404 (``/run_sse``
answers ADK's ``{"detail": "Session not found: <sid>"}`` with 404), 2001 -> 402, 4001 -> 400,
4002 -> 413; errors the contract gives no code carry the HTTP status as the code (400 missing
``X-Client-Id``, 402 missing attribution headers on export, 409 duplicate render id, 429 token
limits). With ``error_status="200"`` envelope-code errors answer HTTP 200 instead.

Out of credits in a chat turn (``credits_error``): ``"event"`` (default) streams one ADK event
with a text saying so plus ``errorCode: "2001"`` / ``errorMessage``; ``"error_frame"`` streams an
ADK 2.x error frame whose message starts with ``2001``; ``"rest"`` answers the POST itself with
the 2001 envelope (HTTP 402) before any stream starts.

Control API (loopback clients only; 403 otherwise)::

    GET|POST    /_emulator/config          read / change settings (JSON object of fields)
    GET|POST|DELETE /_emulator/faults      list / add {"faults": [spec | object]} / clear
    GET|DELETE  /_emulator/requests        recorded requests (?path=&endpoint=&limit=) / clear
    POST        /_emulator/reset           forget everything; settings back to the start
    GET         /_emulator/state           users, tokens (masked), sessions, media, renders
    POST        /_emulator/tokens/expire   {"token"} | {"user_id"} | {} (all anonymous tokens)
    POST        /_emulator/credits         {"user_id" | "token", "available", "frozen"?}
    DELETE      /_emulator/sessions/<sid>  delete a session (later calls get 1002)
    POST        /_emulator/renders/<id>/fail   {"reason"?}: make a render fail
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nemo_mcp.addresses import is_loopback
from nemo_mcp.contract import paths
from nemo_mcp.contract.envelopes import Shape
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.core import ControlCheck, Emulator
from nemo_mcp.emulator.endpoint import Endpoint, Handler, RecorderMiddleware, control_only
from nemo_mcp.emulator.endpoints import account, chat, control, renders, sessions, web
from nemo_mcp.emulator.envelope import Reject, error_body, json_response
from nemo_mcp.emulator.records import CDN_MEDIA, CDN_RENDERS

__all__ = ["Emulator", "create_app", "is_loopback"]


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    reject = Reject(
        status,
        f"{'Not found' if status == 404 else 'Method not allowed'}: "
        f"{request.method} {request.url.path}",
    )
    return json_response(error_body(reject), status=status)


def _routes(emu: Emulator) -> list[Route]:
    """Every route: path, fault name (None: faults cannot target it), handler, error shape."""

    def ep(name: str | None, handler: Handler, shape: Shape = "code") -> Endpoint:
        return Endpoint(emu, name, handler, shape=shape)

    def ctl(handler: Handler) -> Endpoint:
        return Endpoint(emu, None, control_only(handler))

    return [
        Route("/", ep(None, web.h_root), methods=["GET"]),
        Route(paths.ANON_TOKEN, ep("token", account.h_anon_token), methods=["POST"]),
        Route(paths.CREATE_SESSION, ep("session", sessions.h_create_session), methods=["POST"]),
        Route(paths.CLAIM_TOKEN, ep("claim", account.h_claim), methods=["POST"]),
        Route(paths.RUN_SSE, ep("run_sse", chat.h_run_sse), methods=["POST"]),
        Route(paths.UPLOAD, ep("upload", sessions.h_upload), methods=["POST"]),
        Route(paths.CREDITS, ep("credits", account.h_credits), methods=["GET"]),
        Route(paths.STATE, ep("state", sessions.h_state), methods=["GET"]),
        Route(
            paths.RENDER,
            ep("render_submit", renders.h_render_submit, "success"),
            methods=["POST"],
        ),
        Route(
            paths.RENDER_STATUS,
            ep("render_poll", renders.h_render_poll, "success"),
            methods=["GET"],
        ),
        Route(
            paths.RENDER_CANCEL,
            ep("render_cancel", renders.h_render_cancel, "success"),
            methods=["POST"],
        ),
        Route(
            paths.RENDER_DOWNLOAD,
            ep("download", renders.h_download, "success"),
            methods=["GET"],
        ),
        Route(CDN_RENDERS + "/{name}", ep("cdn", renders.h_cdn_render), methods=["GET"]),
        Route(CDN_MEDIA + "/{mid}/{name}", ep("cdn", renders.h_cdn_media), methods=["GET"]),
        Route("/workspace/claim", ep(None, web.h_web_claim), methods=["GET"]),
        Route("/register", ep(None, web.h_web_register), methods=["GET"]),
        Route("/_emulator/config", ctl(control.c_config), methods=["GET", "POST"]),
        Route("/_emulator/faults", ctl(control.c_faults), methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/requests", ctl(control.c_requests), methods=["GET", "DELETE"]),
        Route("/_emulator/reset", ctl(control.c_reset), methods=["POST"]),
        Route("/_emulator/state", ctl(control.c_state), methods=["GET"]),
        Route("/_emulator/tokens/expire", ctl(control.c_expire), methods=["POST"]),
        Route("/_emulator/credits", ctl(control.c_credits), methods=["POST"]),
        Route(
            "/_emulator/sessions/{session_id}",
            ctl(control.c_delete_session),
            methods=["DELETE"],
        ),
        Route(
            "/_emulator/renders/{render_id}/fail",
            ctl(control.c_fail_render),
            methods=["POST"],
        ),
    ]


def create_app(
    config: EmulatorConfig | None = None,
    *,
    control_allowed: ControlCheck = is_loopback,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The emulator as a Starlette app; ``app.state.emulator`` is its :class:`Emulator`.

    ``control_allowed(client_host)`` decides who may use ``/_emulator/*`` (default: loopback).
    Serve it with uvicorn using :func:`nemo_mcp.emulator.http.tracked_protocol` (as
    :class:`~nemo_mcp.emulator.server.EmulatorServer` does) so faults can break connections.
    """
    emu = Emulator(config or EmulatorConfig(), control_allowed=control_allowed, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await emu.startup()
        try:
            yield
        finally:
            await emu.shutdown()

    app = Starlette(
        routes=_routes(emu),
        middleware=[Middleware(RecorderMiddleware, emu=emu)],
        exception_handlers={404: _not_found, 405: _not_found},
        lifespan=lifespan,
    )
    app.state.emulator = emu
    return app
