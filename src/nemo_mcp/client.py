"""The async NemoVideo API client: one ``httpx.AsyncClient``, every endpoint, every envelope.

- Every API request carries ``Authorization: Bearer …`` (from ``TokenProvider``), the three
  ``X-Skill-*`` attribution headers and ``User-Agent: nemo-mcp/<version>``. The token and the
  attribution headers go to the API host only, never to a download host.
- Answers are unwrapped from either envelope (``{"code":0,"data":…}``, ``{"success":true,…}``)
  or taken as bare objects; errors come from the envelope ``code`` and the HTTP status through
  ``errors.error_for``. Answers are read up to ``MAX_ANSWER_BYTES`` and ``MAX_JSON_DEPTH``
  (``bounded``); ids go into URL paths only when well-formed, escaped (``paths.fill``).
- ``1001`` / HTTP 401: the token is dropped and fetched again, and the call retried once.
  HTTP 429: one wait (``Retry-After`` up to ``RETRY_AFTER_CAP``, else 30 s), one retry.
  5xx, timeouts, dropped connections: GETs are retried with backoff; POSTs only when the failure
  provably happened before anything was sent (connect errors, pool timeouts).
- ``POST /run_sse`` is sent once. ``submit_render`` is never repeated after it was sent: a lost
  answer raises ``AmbiguousSubmitError`` so the caller can look the render id up first.
- Uploads stream from plain file objects (constant memory), the handles ``files`` checked;
  downloads are ``downloads.Downloader``'s (bounded, resumed, atomic, public hosts only).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import random
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ParamSpec, TypeVar

import anyio
import anyio.to_thread
import httpx

from nemo_mcp import __version__, constants
from nemo_mcp.attribution import detect_platform
from nemo_mcp.auth import Sleep, TokenProvider
from nemo_mcp.bounded import decode_answer, read_answer
from nemo_mcp.config import Settings
from nemo_mcp.contract import account, codes, envelopes, headers, paths, renders, stream, uploads
from nemo_mcp.contract.media import mime_type
from nemo_mcp.downloads import Downloader, DownloadProgress
from nemo_mcp.errors import (
    AmbiguousSubmitError,
    APIError,
    APITimeoutError,
    DestinationExistsError,
    InvalidInputError,
    NemoError,
    OutcomeUnknownError,
    RateLimitError,
    RenderNotFoundError,
    SessionNotFoundError,
    StreamError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from nemo_mcp.manifest import load_manifest, skill_identity
from nemo_mcp.models import (
    Credits,
    DownloadResult,
    Identity,
    RenderStatus,
    SessionInfo,
    UploadResult,
    decode_json,
    parse_credits,
    parse_render_status,
    parse_retry_after,
    parse_session_info,
    parse_upload_result,
    response_error,
    transport_error,
)
from nemo_mcp.netguard import AddressGuard
from nemo_mcp.store import open_store
from nemo_mcp.store.base import StateStore

log = logging.getLogger(__name__)

# on_progress(done_bytes, total_bytes); total is 0 when the size is not known yet.
ProgressCallback = Callable[[int, int], Awaitable[None] | None]
UploadProgress = ProgressCallback

# Failures that prove the request never left: safe to retry even for a POST.
_PRE_SEND = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures that also prove nothing was sent, but that a retry would only repeat.
_NEVER_SENT = (*_PRE_SEND, httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_NOT_FOUND_RE = re.compile(r"(?i)not\s*found|no such|does not exist|unknown render")


# --- Helpers ------------------------------------------------------------------------------


def check_id(value: str, what: str) -> str:
    """``value`` when it is a well-formed id, else an actionable ``InvalidInputError``."""
    if not paths.valid_id(value):
        shown = value[:40] + ("..." if len(value) > 40 else "")
        raise InvalidInputError(
            f"{shown!r} is not a valid {what} id (letters, digits, '_' and '-' only).",
            hint=f"Use a {what} id an earlier result returned"
            + (" (nemo_list_sessions lists the sessions)." if what == "session" else "."),
        )
    return value


def backoff_delay(retries_taken: int) -> float:
    """``min(cap, base * 2**n) + uniform(0, jitter)`` seconds before the next attempt."""
    base = constants.RETRY_BASE_DELAY * 2.0 ** min(retries_taken, 16)
    return min(constants.RETRY_MAX_DELAY, base) + random.uniform(0, constants.RETRY_JITTER)


async def _notify(callback: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


async def _read_capped(
    response: httpx.Response, cap: int = constants.MAX_ERROR_BODY_BYTES
) -> bytes:
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        buf += chunk[: cap - len(buf)]
        if len(buf) >= cap:
            break
    return bytes(buf)


class _ProgressStream(httpx.AsyncByteStream):
    """Wraps a request body, reporting bytes handed to the transport (at most once per MiB)."""

    def __init__(self, inner: Any, total: int, callback: UploadProgress) -> None:
        self._inner = inner
        self._total = total
        self._callback = callback

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        reported = 0
        await _notify(self._callback, 0, self._total)
        async for chunk in self._inner:
            yield chunk
            sent += len(chunk)
            if sent - reported >= constants.CHUNK_SIZE or sent == self._total:
                reported = sent
                await _notify(self._callback, sent, self._total)

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


_OUTCOME_HINT = (
    "It may have gone through: look at the session's current state (timeline and uploads) "
    "before repeating it."
)


def _outcome_unknown(exc: httpx.TransportError, action: str) -> NemoError:
    """A request that was sent (and may have taken effect) but whose answer was lost.

    "Check the network and try again" would be the wrong advice: repeating an upload that did
    arrive adds the file twice. A timeout keeps its class (``APITimeoutError``).
    """
    err = transport_error(exc, action)
    text = f"{err.message} The request was sent, so it may have taken effect."
    if isinstance(err, APITimeoutError):
        return APITimeoutError(text, hint=_OUTCOME_HINT)
    return OutcomeUnknownError(text, hint=_OUTCOME_HINT)


_NEXT_STEP_HINT = (
    "Try again in a minute; if it keeps happening, NemoVideo may be having problems "
    "(`nemo-mcp doctor` checks the connection and NEMO_API_URL)."
)
_P = ParamSpec("_P")
_T = TypeVar("_T")


def _with_next_step(err: NemoError) -> NemoError:
    """Every error leaving the client says what to do next (unexpected answers included)."""
    if not err.hint:
        err.hint = _NEXT_STEP_HINT
    return err


def _actionable(fn: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
    @functools.wraps(fn)
    async def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await fn(*args, **kwargs)
        except NemoError as err:
            raise _with_next_step(err)  # noqa: B904 (the same exception, re-raised)

    return call


class NemoClient:
    """The NemoVideo API. Use as ``async with NemoClient(settings) as client: …``.

    ``store`` defaults to ``open_store(settings)`` (then closed with the client);
    ``transport`` replaces the network (tests, the embedded emulator); ``sleep`` is used for every
    wait so tests can make retries instant.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: StateStore | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = anyio.sleep,
        tokens: TokenProvider | None = None,
    ) -> None:
        self.settings = settings
        self._owns_store = store is None
        self.store = store if store is not None else open_store(settings)
        self._sleep = sleep
        manifest = load_manifest(settings.skill)
        source, version = skill_identity(manifest, settings.skill_dir)
        platform = settings.skill_source_override or detect_platform(
            os.environ, skill_dir=settings.skill_dir
        )
        self._attribution = {
            headers.SKILL_SOURCE: source,
            headers.SKILL_VERSION: version,
            headers.SKILL_PLATFORM: platform,
        }
        self.user_agent = f"nemo-mcp/{__version__}"
        self._api_url = settings.api_url.rstrip("/")
        self._api = httpx.URL(self._api_url)
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(
                constants.READ_TIMEOUT,
                connect=constants.CONNECT_TIMEOUT,
                write=constants.WRITE_TIMEOUT,
                pool=constants.POOL_TIMEOUT,
            ),
            limits=httpx.Limits(max_connections=constants.MAX_CONNECTIONS),
            follow_redirects=False,
            headers={"User-Agent": self.user_agent},
        )
        self.tokens = (
            tokens
            if tokens is not None
            else TokenProvider(
                settings, self.store, self._http, headers=self._attribution, sleep=sleep
            )
        )
        self.guard = AddressGuard(self._api_url)
        self._downloader = Downloader(
            self._http,
            guard=self.guard,
            api_headers=self._token_headers,
            sleep=sleep,
            backoff=backoff_delay,
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> NemoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._owns_store:
            self.store.close()

    # --- headers --------------------------------------------------------------------------

    @property
    def attribution(self) -> dict[str, str]:
        """The ``X-Skill-Source`` / ``X-Skill-Version`` / ``X-Skill-Platform`` headers sent."""
        return dict(self._attribution)

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    async def identity(self) -> Identity:
        """Who we are (token source, user id, expiry, client id); no network call."""
        return self.tokens.identity()

    def _api_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **self._attribution}

    def _registration_url(self) -> str | None:
        try:
            return self.settings.registration_url(self.tokens.identity().user_id)
        except NemoError:
            return None

    def _error(self, response: httpx.Response, content: bytes) -> NemoError:
        return response_error(
            response.status_code,
            content,
            response.headers.get("content-type"),
            retry_after=parse_retry_after(response.headers),
            registration_url=self._registration_url(),
        )

    # --- the request loop -----------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        json_body: Any = None,
        files: Sequence[tuple[str, tuple[str, IO[bytes], str]]] | None = None,
        timeout: httpx.Timeout | None = None,
        idempotent: bool | None = None,
        on_progress: UploadProgress | None = None,
        not_found: Callable[[], NemoError] | None = None,
        not_found_by_message: bool = False,
        lost_answer: Callable[[httpx.HTTPError | None], NemoError] | None = None,
    ) -> Any:
        """Send one API call and return its unwrapped payload, applying the retry rules.

        ``lost_answer`` builds the error for a non-idempotent request whose answer was lost
        after sending (and for a 502/504 gateway answer); ``not_found`` the error for a 404
        (or, with ``not_found_by_message``, for an unclassified error whose text says "not
        found").
        """
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        url = self._api_url + path
        retries = 0
        reauthed = False
        rate_waited = False
        while True:
            token = await self.tokens.token()
            request = self._http.build_request(
                method,
                url,
                json=json_body,
                files=files,
                headers=self._api_headers(token),
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
            if on_progress is not None:
                total = int(request.headers.get("content-length") or 0)
                request.stream = _ProgressStream(request.stream, total, on_progress)
            log.debug("%s %s (retry %d)", method, path, retries)
            try:
                response = await self._http.send(request, stream=True)
                try:
                    ok = 200 <= response.status_code < 300
                    content = await (
                        read_answer(response, action) if ok else _read_capped(response)
                    )
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                pre_send = isinstance(exc, _PRE_SEND)
                if (idempotent or pre_send) and retries < constants.MAX_RETRIES:
                    delay = backoff_delay(retries)
                    retries += 1
                    log.debug(
                        "%s %s failed (%s); retrying in %.1f s",
                        method,
                        path,
                        type(exc).__name__,
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                if not isinstance(exc, _NEVER_SENT) and not idempotent:
                    if lost_answer is not None:
                        raise lost_answer(exc) from exc
                    raise _outcome_unknown(exc, action) from exc
                raise transport_error(exc, action) from exc
            status = response.status_code
            log.debug("%s %s -> HTTP %d", method, path, status)
            err: NemoError
            if ok:
                is_json, body = decode_answer(content, action)
                if not is_json:
                    if not content.strip():
                        return None
                    kind = (response.headers.get("content-type") or "no content type").split(";")[0]
                    raise APIError(
                        f"{action}: NemoVideo sent an answer that is not JSON ({kind}, "
                        f"{len(content)} bytes)."
                    )
                envelope = envelopes.unwrap(body)
                if envelope.ok:
                    return envelope.payload
                err = self._error(response, content)
            else:
                err = self._error(response, content)

            if (err.code == codes.TOKEN_INVALID or status == 401) and not reauthed:
                reauthed = True
                await self.tokens.invalidate(token)  # raises for a NEMO_TOKEN / login token
                log.info("token rejected; retrying %s %s with a fresh one", method, path)
                continue
            if isinstance(err, RateLimitError) and not rate_waited:
                retry_after = parse_retry_after(response.headers)
                if retry_after is None or retry_after <= constants.RETRY_AFTER_CAP:
                    rate_waited = True
                    delay = retry_after if retry_after else constants.RATE_LIMIT_RETRY_DELAY
                    log.info("rate limited on %s %s; retrying once in %.0f s", method, path, delay)
                    await self._sleep(delay)
                    continue
            if status in (502, 504) and not idempotent and lost_answer is not None:
                raise lost_answer(None)
            if (
                status in constants.RETRYABLE_STATUSES
                and status != 429
                and idempotent
                and retries < constants.MAX_RETRIES
            ):
                delay = backoff_delay(retries)
                retries += 1
                log.debug("%s %s answered HTTP %d; retrying in %.1f s", method, path, status, delay)
                await self._sleep(delay)
                continue
            if not_found is not None and (
                status == 404
                or (
                    not_found_by_message
                    and type(err) is APIError
                    and _NOT_FOUND_RE.search(err.message) is not None
                )
            ):
                raise not_found() from err
            raise err

    # --- sessions -------------------------------------------------------------------------

    @_actionable
    async def create_session(self, language: str = "en", task_name: str = "project") -> SessionInfo:
        """Create a project with an editing-agent session (``session_id`` stays a string)."""
        payload = await self._request(
            "POST",
            paths.CREATE_SESSION,
            action="Creating a session",
            json_body=account.session_request(task_name, language),
        )
        return parse_session_info(payload)

    @_actionable
    async def claim_link(self, task_id: str, session_id: str) -> str:
        """A browser link to the project: ``$WEB/workspace/claim?ct=<claim token>``.

        The claim token is short-lived and meant for the link; the bearer token never goes in a
        URL.
        """
        payload = await self._request(
            "POST",
            paths.CLAIM_TOKEN,
            action="Getting a browser link",
            json_body=account.claim_request(task_id, session_id),
            idempotent=True,  # another claim token for the same project is harmless
            not_found=lambda: self._session_gone(session_id),
        )
        claim = payload.get(account.CLAIM_TOKEN) if isinstance(payload, dict) else None
        if not isinstance(claim, str) or not claim:
            raise APIError("NemoVideo did not send a claim token for the browser link.")
        return account.claim_link(self.settings.web_url, claim)

    def _session_gone(self, session_id: str) -> SessionNotFoundError:
        return SessionNotFoundError(
            f"NemoVideo does not know session {session_id} (it expired or was deleted).",
            status=404,
        )

    @_actionable
    async def get_state(self, session_id: str) -> dict[str, Any]:
        """The session's latest state, unwrapped: ``{"session_id","task_id","state":{…}}``."""
        payload = await self._request(
            "GET",
            paths.fill(paths.STATE, session_id=check_id(session_id, "session")),
            action="Reading the session state",
            not_found=lambda: self._session_gone(session_id),
        )
        if not isinstance(payload, dict):
            raise APIError("NemoVideo sent a session state that is not a JSON object.")
        return payload

    @_actionable
    async def get_credits(self) -> Credits:
        payload = await self._request("GET", paths.CREDITS, action="Reading the credit balance")
        return parse_credits(payload)

    # --- uploads --------------------------------------------------------------------------

    @_actionable
    async def upload_files(
        self,
        session_id: str,
        items: Sequence[Path | str | tuple[str, IO[bytes]]],
        *,
        on_progress: UploadProgress | None = None,
    ) -> UploadResult:
        """Upload local files to the session in one multipart request (field ``files``).

        Each item is a path, or a ``(file name, open binary file)`` pair that is uploaded from
        that handle as it is (``files.resolve_upload`` checks a file on the handle it opens, so
        the bytes sent are the bytes checked). Files are streamed (memory stays flat whatever
        their size) and kept open across a retry; httpx rewinds them. ``on_progress(sent,
        total)`` counts body bytes.
        """
        if not items:
            raise InvalidInputError("No files to upload.")
        sid = check_id(session_id, "session")
        with ExitStack() as stack:
            files: list[tuple[str, tuple[str, IO[bytes], str]]] = []
            for raw in items:
                if isinstance(raw, tuple):
                    name, handle = raw
                else:
                    path = Path(raw)
                    name = path.name
                    try:
                        handle = stack.enter_context(open(path, "rb"))
                    except OSError as err:
                        raise InvalidInputError(
                            f"Cannot read {path.name}: {err.strerror or err}."
                        ) from err
                mime = mime_type(Path(name).suffix)
                files.append((uploads.FILES_FIELD, (name, handle, mime)))
            payload = await self._request(
                "POST",
                paths.fill(paths.UPLOAD, session_id=sid),
                action=f"Uploading {len(files)} file(s)",
                files=files,
                timeout=httpx.Timeout(
                    constants.UPLOAD_READ_TIMEOUT,
                    connect=constants.CONNECT_TIMEOUT,
                    write=constants.WRITE_TIMEOUT,
                    pool=constants.POOL_TIMEOUT,
                ),
                on_progress=on_progress,
                not_found=lambda: self._session_gone(session_id),
            )
        return parse_upload_result(payload)

    @_actionable
    async def upload_urls(self, session_id: str, urls: Sequence[str]) -> UploadResult:
        """Have NemoVideo fetch media by URL (nothing is downloaded locally)."""
        if not urls:
            raise InvalidInputError("No URLs to upload.")
        payload = await self._request(
            "POST",
            paths.fill(paths.UPLOAD, session_id=check_id(session_id, "session")),
            action=f"Uploading {len(urls)} URL(s)",
            json_body=uploads.url_request(list(urls)),
            timeout=httpx.Timeout(
                constants.UPLOAD_READ_TIMEOUT,
                connect=constants.CONNECT_TIMEOUT,
                write=constants.WRITE_TIMEOUT,
                pool=constants.POOL_TIMEOUT,
            ),
            not_found=lambda: self._session_gone(session_id),
        )
        return parse_upload_result(payload)

    # --- chat -----------------------------------------------------------------------------

    def stream_chat(
        self, session_id: str, text: str
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """POST one message to ``/run_sse`` and yield the raw body chunks of the event stream.

        The message is sent once. A drop after the stream started raises
        ``StreamInterruptedError`` (``StreamTimeoutError`` after ``TURN_SOCKET_READ_TIMEOUT`` s of
        silence); a lost answer before it started raises ``OutcomeUnknownError``. Either way the
        caller recovers by reading the session state, never by sending again.
        """
        return self._stream_chat(session_id, text)

    @asynccontextmanager
    async def _stream_chat(self, session_id: str, text: str) -> AsyncIterator[AsyncIterator[bytes]]:
        body = stream.run_request(session_id, text)
        timeout = httpx.Timeout(
            constants.TURN_SOCKET_READ_TIMEOUT,
            connect=constants.CONNECT_TIMEOUT,
            write=constants.WRITE_TIMEOUT,
            pool=constants.POOL_TIMEOUT,
        )
        reauthed = False
        while True:
            try:
                token = await self.tokens.token()
            except NemoError as token_error:
                raise _with_next_step(token_error)  # noqa: B904 (the same exception, re-raised)
            sent = {
                **self._api_headers(token),
                "Accept": "text/event-stream",
                "Cache-Control": "no-store",
            }
            request = self._http.build_request(
                "POST",
                self._api_url + paths.RUN_SSE,
                json=body,
                headers=sent,
                timeout=timeout,
            )
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                if isinstance(exc, _NEVER_SENT):
                    raise transport_error(exc, "Sending the message") from exc
                raise OutcomeUnknownError(
                    "The message was sent but NemoVideo's answer was lost "
                    f"({type(exc).__name__}); the editing agent may be working on it."
                ) from exc
            status = response.status_code
            content_type = response.headers.get("content-type", "")
            if status == 200 and "text/event-stream" in content_type.lower():
                break
            try:
                content = await _read_capped(response)
            except httpx.TransportError:
                content = b""
            finally:
                await response.aclose()
            err: NemoError
            if 200 <= status < 300:
                is_json, decoded = decode_json(content)
                if is_json and not envelopes.unwrap(decoded).ok:
                    err = self._error(response, content)
                else:
                    raise _with_next_step(
                        StreamError(
                            "NemoVideo answered the message without an event stream "
                            f"({content_type.split(';')[0] or 'no content type'})."
                        )
                    )
            else:
                err = self._error(response, content)
            if (err.code == codes.TOKEN_INVALID or status == 401) and not reauthed:
                # The one retry /run_sse allows: a 401/1001 answer proves the server refused the
                # message before running it, so sending it again with a fresh token cannot start
                # the turn twice (no duplicate work, no double charge).
                reauthed = True
                await self.tokens.invalidate(token)
                continue
            if status == 404:
                raise self._session_gone(session_id) from err
            raise _with_next_step(err)

        chunks = self._chat_chunks(response)
        try:
            yield chunks
        finally:
            await chunks.aclose()
            await response.aclose()

    async def _chat_chunks(self, response: httpx.Response) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in response.aiter_bytes():
                if chunk:
                    yield chunk
        except httpx.TimeoutException as exc:
            raise StreamTimeoutError(
                "The chat stream went silent for "
                f"{constants.TURN_SOCKET_READ_TIMEOUT:.0f} s and was closed."
            ) from exc
        except httpx.TransportError as exc:
            raise StreamInterruptedError(
                f"The chat stream was cut ({type(exc).__name__})."
            ) from exc

    # --- renders --------------------------------------------------------------------------

    @_actionable
    async def submit_render(
        self,
        render_id: str,
        session_id: str,
        draft: Any,
        output: dict[str, Any] | None = None,
    ) -> RenderStatus:
        """Start an export. Never repeated once sent: see ``AmbiguousSubmitError``."""
        body = renders.submit_request(render_id, session_id, draft, output)

        def lost(exc: httpx.HTTPError | None) -> NemoError:
            why = type(exc).__name__ if exc is not None else "a gateway error"
            return AmbiguousSubmitError(
                f"The export request for {render_id} was sent but its answer was lost ({why}).",
                render_id=render_id,
            )

        payload = await self._request(
            "POST",
            paths.RENDER,
            action="Starting the export",
            json_body=body,
            lost_answer=lost,
            not_found=lambda: self._session_gone(session_id),
        )
        if isinstance(payload, dict) and payload:
            return parse_render_status(payload, render_id)
        return RenderStatus(render_id=render_id, status="pending")

    def _render_gone(self, render_id: str) -> RenderNotFoundError:
        return RenderNotFoundError(f"NemoVideo does not know render {render_id}.", status=404)

    @_actionable
    async def get_render(self, render_id: str) -> RenderStatus:
        payload = await self._request(
            "GET",
            paths.fill(paths.RENDER_STATUS, render_id=check_id(render_id, "render")),
            action="Reading the export status",
            not_found=lambda: self._render_gone(render_id),
            not_found_by_message=True,
        )
        if payload is None:
            raise self._render_gone(render_id)
        return parse_render_status(payload, render_id)

    @_actionable
    async def cancel_render(self, render_id: str) -> RenderStatus | None:
        """Cancel a pending render; the new status if the server sent one."""
        payload = await self._request(
            "POST",
            paths.fill(paths.RENDER_CANCEL, render_id=check_id(render_id, "render")),
            action="Cancelling the export",
            idempotent=True,  # cancelling twice is harmless
            not_found=lambda: self._render_gone(render_id),
            not_found_by_message=True,
        )
        if isinstance(payload, dict) and ("status" in payload or "state" in payload):
            return parse_render_status(payload, render_id)
        return None

    # --- downloads ------------------------------------------------------------------------

    @_actionable
    async def download(
        self,
        url: str,
        dest: Path,
        *,
        overwrite: bool = False,
        on_progress: DownloadProgress | None = None,
        expected_size: int | None = None,
    ) -> DownloadResult:
        """Download ``url`` to ``dest`` atomically; resume after drops; check the size.

        An existing ``dest`` raises ``DestinationExistsError`` unless ``overwrite`` (see
        ``files.choose_output_path`` for a free name). ``dest`` never exists half-written: bytes
        go to a temporary ``.part`` file beside it, which is moved into place only when complete and
        removed on any failure. ``on_progress(written, total)``, total 0 while unknown. Only
        public hosts are fetched unless the API itself is local (``netguard``); sizes, attempts
        and time are bounded (``downloads``).
        """
        return await self._downloader.download(
            url, dest, overwrite=overwrite, on_progress=on_progress, expected_size=expected_size
        )

    async def _token_headers(self) -> dict[str, str]:
        return self._api_headers(await self.tokens.token())


__all__ = [
    "AmbiguousSubmitError",
    "DestinationExistsError",
    "DownloadProgress",
    "NemoClient",
    "OutcomeUnknownError",
    "ProgressCallback",
    "RenderNotFoundError",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "UploadProgress",
    "backoff_delay",
]
