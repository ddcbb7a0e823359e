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

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from html import escape
from typing import Any, Final

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nemo_mcp.contract import account, codes, headers, paths, renders, stream, values
from nemo_mcp.contract.envelopes import Shape
from nemo_mcp.contract.media import MIME_TYPES
from nemo_mcp.contract.uploads import (
    PROBED,
    SOURCE_TYPE,
    URL_SOURCE,
    URLS,
    file_entry,
)
from nemo_mcp.contract.uploads import answer as upload_answer
from nemo_mcp.emulator import agent, draft_shapes, uploads
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.chat import TurnRunner, stream_turn
from nemo_mcp.emulator.config import (
    H_POLL_SHAPE,
    H_SILENT,
    H_STREAM,
    EmulatorConfig,
)
from nemo_mcp.emulator.envelope import Reject, error_body, error_response, json_response, ok
from nemo_mcp.emulator.faults import Fault
from nemo_mcp.emulator.http import (
    Connections,
    EmulatedBreak,
    break_connection,
    send_file,
    send_truncated,
    wait_for_disconnect,
)
from nemo_mcp.emulator.renders import RenderQueue
from nemo_mcp.emulator.sse import Framer
from nemo_mcp.emulator.state import (
    CDN_RENDERS,
    EmulatorState,
    Media,
    Render,
    RequestRecord,
    Session,
)

log = logging.getLogger(__name__)

JSON_LIMIT: Final = 32 * 1024 * 1024
CLIENT_ID_MAX: Final = 64
SCOPE_RECORD: Final = "nemo_emulator.record"
_APP_NAME = re.compile(r"^[a-zA-Z0-9_]+$")

ControlCheck = Callable[[str | None], bool]


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class Emulator:
    """One emulator: its state, render queue, background turns and tracked connections."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        control_allowed: ControlCheck = is_loopback,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.initial_config = config
        self.state = EmulatorState(config, clock=clock)
        self.connections = Connections()
        self.renders = RenderQueue(self.state)
        self.control_allowed = control_allowed
        self.stopping = threading.Event()  # set when the server is shutting down
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def set_config(self, changes: dict[str, Any]) -> EmulatorConfig:
        new = self.config.updated(changes)
        self.state.set_config(new)
        return new

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def apply_delta(self, session_id: str, delta: dict[str, Any]) -> None:
        with self.state.changing():
            sess = self.state.sessions.get(session_id)
            if sess is None:
                return
            for key, value in delta.items():
                if key in ("draft", "canvas_config", "video_analyses", "generated_media"):
                    setattr(sess, key, value)
            sess.updated_at = self.state.clock()

    async def startup(self) -> None:
        self.renders.resume()

    async def shutdown(self) -> None:
        self.stopping.set()
        for task in list(self._tasks):
            task.cancel()
        await anyio.to_thread.run_sync(self.renders.close)
        self.state.close()


# --- request context ------------------------------------------------------------------------
@dataclass
class Ctx:
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
            record = _new_record(scope)
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


def _new_record(scope: Scope) -> RequestRecord:
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
        record = _new_record(scope)
        self.emu.state.record(record)
        scope[SCOPE_RECORD] = record

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            await send(message)

        await self.app(scope, receive, send_wrapper)


# --- contract handlers --------------------------------------------------------------------------
async def h_anon_token(ctx: Ctx) -> Response:
    client_id = (ctx.header(headers.CLIENT_ID) or "").strip()
    if not client_id:
        raise Reject(400, f"{headers.CLIENT_ID} header is required")
    if len(client_id) > CLIENT_ID_MAX:
        raise Reject(400, f"{headers.CLIENT_ID} must be at most {CLIENT_ID_MAX} characters")
    client = ctx.scope.get("client")
    token, user = ctx.state.issue_anon_token(client_id, str(client[0]) if client else None)
    return ok(
        account.token_answer(
            token.token,
            user.user_id,
            values.iso(token.expires_at or 0),
            user.available,
            ["read", "write", "upload"],
        )
    )


async def h_create_session(ctx: Ctx) -> Response:
    user_id = ctx.user_id()
    body = await ctx.json()
    if body is not None and not isinstance(body, dict):
        raise Reject(400, "Body must be a JSON object")
    body = body or {}
    task_name = str(body.get(account.TASK_NAME) or "project")[:200]
    language = str(body.get(account.LANGUAGE) or "en")[:20]
    sess = ctx.state.create_session(user_id, task_name, language)
    return ok(account.session_answer(sess.task_id, sess.session_id, user_id))


async def h_claim(ctx: Ctx) -> Response:
    user_id = ctx.user_id()
    body = await ctx.json()
    body = body if isinstance(body, dict) else {}
    sid = body.get(account.SESSION_ID_KEYS[0])
    task_id = body.get(account.TASK_ID_KEYS[0])
    if not sid and not task_id:
        raise Reject(400, "task_id or session_id is required")
    if sid:
        sess = ctx.state.session_for(str(sid), user_id)
    else:
        with ctx.state.lock:
            found = [
                s
                for s in ctx.state.sessions.values()
                if s.task_id == task_id and s.user_id == user_id
            ]
        if not found:
            raise Reject(codes.SESSION_NOT_FOUND, f"Task not found: {task_id}")
        sess = found[0]
    claim = ctx.state.claim_for(user_id, sess.session_id, sess.task_id)
    remaining = max(round(claim.expires_at - ctx.state.clock()), 0)
    return ok(account.claim_answer(claim.claim_token, remaining))


async def h_credits(ctx: Ctx) -> Response:
    user = ctx.state.authenticate(ctx.header("authorization"))
    with ctx.state.lock:
        available, frozen = user.available, user.frozen
    return ok(account.credits_answer(available, frozen))


def _state_payload(sess: Session, base: str, draft_format: str) -> dict[str, Any]:
    state = dr.absolutize(
        {
            "video_infos": sess.video_infos,
            "draft": sess.draft,
            "canvas_config": sess.canvas_config,
            "video_analyses": sess.video_analyses,
            "generated_media": sess.generated_media,
        },
        base,
    )
    return {
        "session_id": sess.session_id,
        "task_id": sess.task_id,
        "task_name": sess.task_name,
        "user_id": sess.user_id,
        "state": draft_shapes.present_delta(state, draft_format),
    }


async def h_state(ctx: Ctx) -> Response:
    sess = ctx.state.session_for(ctx.path_param("session_id"), ctx.user_id())
    with ctx.state.lock:
        payload = _state_payload(sess, ctx.base_url, ctx.config.draft_format)
    return ok(payload)


def _file_entry(item: Media, base: str) -> dict[str, Any]:
    entry = file_entry(
        media_id=item.media_id,
        filename=item.filename,
        file_type=item.file_type,
        cdn_url=item.cdn_path if item.rel_path else item.source_url,
        size=item.size,
        digest=item.hash,
        probed=item.info,
    )
    return dr.absolutize(entry, base)  # type: ignore[no-any-return]


async def h_upload(ctx: Ctx) -> Response:
    user_id = ctx.user_id()
    sess = ctx.state.session_for(ctx.path_param("session_id"), user_id)
    content_type = (ctx.header("content-type") or "").lower()
    limit = ctx.config.upload_limit_bytes
    items = []
    if content_type.startswith("multipart/"):
        saved = await uploads.receive_multipart(
            ctx.state, ctx.header("content-type") or "", ctx.request.stream(), limit
        )
        for s in saved:
            items.append(await uploads.to_media(ctx.state, sess.session_id, s))
    elif content_type.startswith("application/json"):
        body = await ctx.json()
        urls = body.get(URLS) if isinstance(body, dict) else None
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise Reject(400, 'Body must be {"urls": ["<url>", ...], "source_type": "url"}')
        if body.get(SOURCE_TYPE, URL_SOURCE) != URL_SOURCE:
            raise Reject(400, 'source_type must be "url"')
        for url in urls:  # refuse unsupported types before fetching anything
            name = uploads.url_filename(url)
            if "." in name or url.lower().startswith("file:"):
                uploads.check_extension(name)
        client = ctx.scope.get("client")
        local = is_loopback(str(client[0]) if client else None)
        fetched: list[uploads.Saved | str] = []
        try:
            for url in urls:
                saved_url = await uploads.fetch_url(ctx.state, url, ctx.config, local_client=local)
                fetched.append(saved_url if saved_url is not None else url)
        except BaseException:
            for entry in fetched:
                if isinstance(entry, uploads.Saved):
                    ctx.state.discard_media_folder(entry.media_id)
            raise
        for entry in fetched:
            if isinstance(entry, uploads.Saved):
                items.append(await uploads.to_media(ctx.state, sess.session_id, entry))
            else:
                got = entry
                name, kind = uploads.guess_recorded(got)
                media_id, safe, _ = ctx.state.new_media_slot(name)
                ctx.state.discard_media_folder(media_id)
                item = Media(
                    media_id=media_id,
                    session_id=sess.session_id,
                    filename=safe,
                    file_type=kind,
                    rel_path="",
                    size=0,
                    hash="",
                    source_url=got,
                    created_at=time.time(),
                )
                ctx.state.add_media(item)
                items.append(item)
    else:
        raise Reject(400, "Upload as multipart/form-data (field 'files') or JSON with 'urls'")
    now = time.time()
    with ctx.state.changing():
        for item in items:
            info = {
                "media_id": item.media_id,
                "filename": item.filename,
                "file_type": item.file_type,
                "url": item.cdn_path if item.rel_path else item.source_url,
                "cdn_url": item.cdn_path if item.rel_path else item.source_url,
                "size": item.size,
                "hash": item.hash,
                "source": "url" if item.source_url else "upload",
                "uploaded_at": now,
                **{k: v for k, v in item.info.items() if k in PROBED},
            }
            if item.source_url:
                info["source_url"] = item.source_url
            sess.video_infos.append(info)
        sess.updated_at = now
    files = [_file_entry(item, ctx.base_url) for item in items]
    return ok(upload_answer(files))


def _run_request_error(message: str) -> Reject:
    """ADK answers an invalid run request with HTTP 422 before any stream."""
    return Reject(422, message, data={"detail": message})


async def h_run_sse(ctx: Ctx) -> Response | None:
    user_id = ctx.user_id()
    body = await ctx.json()
    if not isinstance(body, dict):
        raise _run_request_error("Body must be a JSON object (ADK run request)")
    app_name = stream.read_field(body, stream.APP_NAME_FIELD)
    if app_name is not None and (not isinstance(app_name, str) or not _APP_NAME.match(app_name)):
        raise _run_request_error("app_name must match ^[a-zA-Z0-9_]+$")
    sid = stream.read_field(body, stream.SESSION_ID_FIELD)
    if not isinstance(sid, str) or not sid:
        raise _run_request_error("session_id is required")
    text = stream.message_text(stream.read_field(body, stream.NEW_MESSAGE_FIELD))
    if text is None:
        raise _run_request_error("new_message.parts is required")
    if not text.strip():
        raise _run_request_error("new_message.parts[].text is required")
    sess = ctx.state.find_session(sid)
    if sess is None or sess.user_id != user_id:
        detail = f"Session not found: {sid}"
        return json_response(
            {"detail": detail, "code": codes.SESSION_NOT_FOUND, "message": detail},
            status=404,
        )
    try:
        spec = ctx.config.stream_spec.merge(ctx.header(H_STREAM))
    except ValueError as exc:
        raise Reject(400, f"{H_STREAM}: {exc}") from None
    fault = ctx.fault
    if fault is not None and fault.action in (
        "error_v1",
        "error_v2",
        "model_error",
        "heartbeats_only",
    ):
        spec = spec.merge(fault.action)
    elif fault is not None and fault.action == "drop":
        spec = spec.merge("drop" if fault.arg is None else f"drop={fault.arg}")
    elif fault is not None and fault.action == "truncate":
        spec = spec.merge("drop")
    partial = spec.partial if spec.partial is not None else bool(body.get(stream.STREAMING))
    silent_header = ctx.header(H_SILENT)
    silent = None if silent_header is None else silent_header.strip() in ("1", "true", "yes")
    if fault is not None and fault.action == "silent":
        silent = True

    with ctx.state.changing():
        sess.turns += 1
        turn = sess.turns
        sess.history.append({"turn": turn, "role": "user", "text": text[:2000], "at": time.time()})
    plan = agent.plan_turn(ctx.state, sess, text, ctx.config, turn=turn, silent=silent)
    framer = Framer(spec)
    runner_args: dict[str, Any] = {
        "session_id": sid,
        "user_id": user_id,
        "framer": framer,
        "spec": spec,
        "partial": partial,
        "base_url": ctx.base_url,
    }
    if plan.cost and not ctx.state.reserve(user_id, plan.cost):
        with ctx.state.lock:
            have = ctx.state.users[user_id].available
        msg = f"Insufficient credits: this request needs {plan.cost} credits, {have} available"
        if ctx.config.credits_error == "rest":
            raise Reject(codes.NO_CREDITS, msg)
        if ctx.config.credits_error == "error_frame":
            canned = [Framer.fatal_error_v2("InsufficientCreditsError", f"2001 {msg}")]
        else:
            friendly = plan.workspace.say(
                f"You've run out of credits (this needs {plan.cost}, you have {have}). "
                "Register or top up your credits to keep creating. Exporting stays free.",
                f"积分不足（需要 {plan.cost}，当前 {have}）。"
                "注册或充值后即可继续创作，导出视频仍然免费。",
            )
            canned = [framer.error_event(str(codes.NO_CREDITS), msg, text=friendly)]
        runner = TurnRunner(ctx.emu, canned=canned, **runner_args)
    else:
        runner = TurnRunner(ctx.emu, plan=plan, **runner_args)
    ctx.emu.spawn(runner.run())
    await stream_turn(ctx.emu, ctx.scope, ctx.receive, ctx.send, runner)
    return None


# --- renders ------------------------------------------------------------------------------------
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


async def _send_render(ctx: Ctx, render: Render) -> None:
    with ctx.state.lock:
        if render.status != "completed" or not render.file:
            raise Reject(409, f"Render {render.render_id} is {render.status}, not completed")
        path = ctx.state.renders_dir / render.file
    if not path.is_file():
        raise Reject(404, "The rendered file is gone")
    fault = ctx.fault
    truncating = fault is not None and fault.action in ("truncate", "drop")
    await send_file(
        ctx.scope,
        ctx.send,
        path,
        content_type="video/mp4",
        connections=ctx.emu.connections,
        filename=f"{render.render_id}.mp4",
        truncate=fault.arg if truncating and fault is not None else None,
        truncate_half=truncating and fault is not None and fault.arg is None,
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
    await _send_render(ctx, render)
    return None


async def h_cdn_media(ctx: Ctx) -> Response | None:
    mid = ctx.path_param("mid")
    path = ctx.state.media_path(mid)
    with ctx.state.lock:
        item = ctx.state.media.get(mid)
    if path is None or item is None:
        raise Reject(404, "Not found")
    fault = ctx.fault
    truncating = fault is not None and fault.action in ("truncate", "drop")
    await send_file(
        ctx.scope,
        ctx.send,
        path,
        content_type=MIME_TYPES.get(path.suffix.lower().lstrip("."), "application/octet-stream"),
        connections=ctx.emu.connections,
        filename=item.filename,
        truncate=fault.arg if truncating and fault is not None else None,
        truncate_half=truncating and fault is not None and fault.arg is None,
    )
    return None


# --- a tiny web front, for NEMO_WEB_URL pointing at the emulator ---------------------------------
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


# --- control API ----------------------------------------------------------------------------------
def _control(handler: Handler) -> Handler:
    async def guarded(ctx: Ctx) -> Response | None:
        client = ctx.scope.get("client")
        host = str(client[0]) if client else None
        if not ctx.emu.control_allowed(host):
            raise Reject(403, "The emulator control API only answers loopback clients")
        return await handler(ctx)

    return guarded


async def c_config(ctx: Ctx) -> Response:
    if ctx.request.method == "POST":
        body = await ctx.json()
        if not isinstance(body, dict):
            raise Reject(400, "Body must be a JSON object of config fields")
        try:
            ctx.emu.set_config(body)
        except (ValueError, TypeError) as exc:
            raise Reject(400, str(exc)) from None
    return ok(ctx.config.to_dict())


async def c_faults(ctx: Ctx) -> Response:
    book = ctx.state.faults
    if ctx.request.method == "DELETE":
        book.clear(ctx.request.query_params.get("endpoint"))
    elif ctx.request.method == "POST":
        body = await ctx.json()
        if isinstance(body, dict) and body.get("replace"):
            book.clear()
        items: Any = body
        if isinstance(body, dict):
            items = body.get("faults", body.get("fault", [] if "replace" in body else body))
        if not isinstance(items, list):
            items = [items]
        try:
            book.add(*[i for i in items if i])
        except ValueError as exc:
            raise Reject(400, str(exc)) from None
    return ok({"faults": [f.to_dict() for f in book.list()]})


async def c_requests(ctx: Ctx) -> Response:
    if ctx.request.method == "DELETE":
        with ctx.state.lock:
            ctx.state.requests.clear()
        return ok({"requests": []})
    q = ctx.request.query_params
    items = ctx.state.recorded(path=q.get("path"), endpoint=q.get("endpoint"))
    items = [r for r in items if not r.path.startswith("/_emulator/")]
    limit = q.get("limit")
    if limit and limit.isdigit():
        items = items[-int(limit) :]
    return ok({"requests": [r.to_dict() for r in items]})


async def c_reset(ctx: Ctx) -> Response:
    ctx.state.set_config(ctx.emu.initial_config)
    ctx.state.reset()
    return ok({"reset": True})


async def c_state(ctx: Ctx) -> Response:
    return ok(ctx.state.snapshot())


async def c_expire(ctx: Ctx) -> Response:
    body = await ctx.json()
    body = body if isinstance(body, dict) else {}
    count = ctx.state.expire_tokens(token=body.get("token"), user_id=body.get("user_id"))
    return ok({"expired": count})


async def c_credits(ctx: Ctx) -> Response:
    body = await ctx.json()
    if not isinstance(body, dict) or "available" not in body:
        raise Reject(400, 'Body must be {"user_id" | "token", "available", "frozen"?}')
    user_id = body.get("user_id")
    if not user_id and body.get("token"):
        tok = ctx.state.token_info(str(body["token"]))
        user_id = tok.user_id if tok else None
    if not user_id:
        raise Reject(404, "No such user or token")
    try:
        user = ctx.state.set_credits(str(user_id), int(body["available"]), body.get("frozen"))
    except KeyError:
        raise Reject(404, f"No such user: {user_id}") from None
    return ok({"user_id": user.user_id, "available": user.available, "frozen": user.frozen})


async def c_delete_session(ctx: Ctx) -> Response:
    sid = ctx.path_param("session_id")
    if not ctx.state.delete_session(sid):
        raise Reject(404, f"No such session: {sid}")
    return ok({"deleted": sid})


async def c_fail_render(ctx: Ctx) -> Response:
    render_id = ctx.path_param("render_id")
    render = ctx.state.get_render(render_id)
    if render is None:
        raise Reject(404, f"No such render: {render_id}")
    body = await ctx.json()
    reason = body.get("reason") if isinstance(body, dict) else None
    ctx.emu.renders.fail_now(render, str(reason or "Render failed: forced by the test"))
    return ok({"id": render_id, "status": render.status, "fail_reason": render.fail_reason})


# --- the app --------------------------------------------------------------------------------------
async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    reject = Reject(
        status,
        f"{'Not found' if status == 404 else 'Method not allowed'}: "
        f"{request.method} {request.url.path}",
    )
    return json_response(error_body(reject), status=status)


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

    def ep(name: str | None, handler: Handler, shape: Shape = "code") -> Endpoint:
        return Endpoint(emu, name, handler, shape=shape)

    def ctl(handler: Handler) -> Endpoint:
        return Endpoint(emu, None, _control(handler))

    routes = [
        Route("/", ep(None, h_root), methods=["GET"]),
        Route(paths.ANON_TOKEN, ep("token", h_anon_token), methods=["POST"]),
        Route(paths.CREATE_SESSION, ep("session", h_create_session), methods=["POST"]),
        Route(paths.CLAIM_TOKEN, ep("claim", h_claim), methods=["POST"]),
        Route(paths.RUN_SSE, ep("run_sse", h_run_sse), methods=["POST"]),
        Route(paths.UPLOAD, ep("upload", h_upload), methods=["POST"]),
        Route(paths.CREDITS, ep("credits", h_credits), methods=["GET"]),
        Route(paths.STATE, ep("state", h_state), methods=["GET"]),
        Route(
            paths.RENDER,
            ep("render_submit", h_render_submit, "success"),
            methods=["POST"],
        ),
        Route(
            paths.RENDER_STATUS,
            ep("render_poll", h_render_poll, "success"),
            methods=["GET"],
        ),
        Route(
            paths.RENDER_CANCEL,
            ep("render_cancel", h_render_cancel, "success"),
            methods=["POST"],
        ),
        Route(
            paths.RENDER_DOWNLOAD,
            ep("download", h_download, "success"),
            methods=["GET"],
        ),
        Route(CDN_RENDERS + "/{name}", ep("cdn", h_cdn_render), methods=["GET"]),
        Route("/cdn/media/{mid}/{name}", ep("cdn", h_cdn_media), methods=["GET"]),
        Route("/workspace/claim", ep(None, h_web_claim), methods=["GET"]),
        Route("/register", ep(None, h_web_register), methods=["GET"]),
        Route("/_emulator/config", ctl(c_config), methods=["GET", "POST"]),
        Route("/_emulator/faults", ctl(c_faults), methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/requests", ctl(c_requests), methods=["GET", "DELETE"]),
        Route("/_emulator/reset", ctl(c_reset), methods=["POST"]),
        Route("/_emulator/state", ctl(c_state), methods=["GET"]),
        Route("/_emulator/tokens/expire", ctl(c_expire), methods=["POST"]),
        Route("/_emulator/credits", ctl(c_credits), methods=["POST"]),
        Route("/_emulator/sessions/{session_id}", ctl(c_delete_session), methods=["DELETE"]),
        Route("/_emulator/renders/{render_id}/fail", ctl(c_fail_render), methods=["POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await emu.startup()
        try:
            yield
        finally:
            await emu.shutdown()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(RecorderMiddleware, emu=emu)],
        exception_handlers={404: _not_found, 405: _not_found},
        lifespan=lifespan,
    )
    app.state.emulator = emu
    return app
