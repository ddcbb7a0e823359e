"""The async NemoVideo API client: one ``httpx.AsyncClient``, every endpoint, every envelope.

- Every API request carries ``Authorization: Bearer …`` (from ``TokenProvider``), the three
  ``X-Skill-*`` attribution headers and ``User-Agent: nemo-mcp/<version>``. The token and the
  attribution headers go to the API host only, never to a download host.
- Answers are unwrapped from either envelope (``{"code":0,"data":…}``, ``{"success":true,…}``)
  or taken as bare objects; errors come from the envelope ``code`` and the HTTP status through
  ``errors.error_for``.
- ``1001`` / HTTP 401: the token is dropped and fetched again, and the call retried once.
  HTTP 429: one wait (``Retry-After`` up to ``RETRY_AFTER_CAP``, else 30 s), one retry.
  5xx, timeouts, dropped connections: GETs are retried with backoff; POSTs only when the failure
  provably happened before anything was sent (connect errors, pool timeouts).
- ``POST /run_sse`` is sent once. ``submit_render`` is never repeated after it was sent: a lost
  answer raises ``AmbiguousSubmitError`` so the caller can look the render id up first.
- Uploads stream from plain file objects (constant memory); downloads stream into a temporary
  file beside the destination, resume with ``Range`` after a drop, check the size, and move the
  file into place atomically (an existing file is never overwritten unless asked).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import random
import re
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ParamSpec, TypeVar
from urllib.parse import quote

import anyio
import anyio.to_thread
import httpx

from nemo_mcp import __version__, constants, contract
from nemo_mcp.attribution import detect_platform
from nemo_mcp.auth import Sleep, TokenProvider
from nemo_mcp.config import Settings
from nemo_mcp.errors import (
    AmbiguousSubmitError,
    APIError,
    APITimeoutError,
    DestinationExistsError,
    DownloadError,
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
    parse_envelope,
    parse_render_status,
    parse_retry_after,
    parse_session_info,
    parse_upload_result,
    response_error,
    safe_url,
    transport_error,
)
from nemo_mcp.store import Store

try:
    import fcntl
except ImportError:  # Windows: no sweeping of temporary files left by a crash
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# on_progress(done_bytes, total_bytes); total is 0 when the size is not known yet.
ProgressCallback = Callable[[int, int], Awaitable[None] | None]
UploadProgress = ProgressCallback
DownloadProgress = ProgressCallback

# Failures that prove the request never left: safe to retry even for a POST.
_PRE_SEND = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures that also prove nothing was sent, but that a retry would only repeat.
_NEVER_SENT = (*_PRE_SEND, httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOT_FOUND_RE = re.compile(r"(?i)not\s*found|no such|does not exist|unknown render")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_CONTENT_RANGE_UNSAT_RE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


# --- Helpers ------------------------------------------------------------------------------


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


@cache
def _file_mode() -> int:
    """The mode a new file gets under the current umask (``mkstemp`` makes ``0o600``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


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


class _Retryable(Exception):
    """Internal: a download attempt failed in a way worth another attempt."""


class NemoClient:
    """The NemoVideo API. Use as ``async with NemoClient(settings) as client: …``.

    ``store`` defaults to ``Store(settings.state_db)`` (then closed with the client);
    ``transport`` replaces the network (tests, the embedded emulator); ``sleep`` is used for every
    wait so tests can make retries instant.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = anyio.sleep,
        tokens: TokenProvider | None = None,
    ) -> None:
        self.settings = settings
        self._owns_store = store is None
        self.store = store if store is not None else Store(settings.state_db)
        self._sleep = sleep
        manifest = load_manifest(settings.skill)
        source, version = skill_identity(manifest, settings.skill_dir)
        platform = settings.skill_source_override or detect_platform(
            os.environ, skill_dir=settings.skill_dir
        )
        self._attribution = {
            contract.H_SKILL_SOURCE: source,
            contract.H_SKILL_VERSION: version,
            contract.H_SKILL_PLATFORM: platform,
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

    def _is_api_origin(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, url.port) == (
            self._api.scheme,
            self._api.host,
            self._api.port,
        )

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
                    content = await (response.aread() if ok else _read_capped(response))
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
                is_json, body = decode_json(content)
                if not is_json:
                    if not content.strip():
                        return None
                    kind = (response.headers.get("content-type") or "no content type").split(";")[0]
                    raise APIError(
                        f"{action}: NemoVideo sent an answer that is not JSON ({kind}, "
                        f"{len(content)} bytes)."
                    )
                envelope = parse_envelope(body)
                if envelope.ok:
                    return envelope.payload
                err = self._error(response, content)
            else:
                err = self._error(response, content)

            if (err.code == contract.CODE_TOKEN_INVALID or status == 401) and not reauthed:
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
            contract.PATH_CREATE_SESSION,
            action="Creating a session",
            json_body={"task_name": task_name, "language": language},
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
            contract.PATH_CLAIM_TOKEN,
            action="Getting a browser link",
            json_body={"task_id": task_id, "session_id": session_id},
            idempotent=True,  # another claim token for the same project is harmless
            not_found=lambda: self._session_gone(session_id),
        )
        claim = payload.get("claim_token") if isinstance(payload, dict) else None
        if not isinstance(claim, str) or not claim:
            raise APIError("NemoVideo did not send a claim token for the browser link.")
        return f"{self.settings.web_url.rstrip('/')}/workspace/claim?ct={quote(claim, safe='')}"

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
            contract.state_path(session_id),
            action="Reading the session state",
            not_found=lambda: self._session_gone(session_id),
        )
        if not isinstance(payload, dict):
            raise APIError("NemoVideo sent a session state that is not a JSON object.")
        return payload

    @_actionable
    async def get_credits(self) -> Credits:
        payload = await self._request(
            "GET", contract.PATH_CREDITS, action="Reading the credit balance"
        )
        return parse_credits(payload)

    # --- uploads --------------------------------------------------------------------------

    @_actionable
    async def upload_files(
        self,
        session_id: str,
        paths: Sequence[Path],
        *,
        on_progress: UploadProgress | None = None,
    ) -> UploadResult:
        """Upload local files to the session in one multipart request (field ``files``).

        Files are streamed from disk (memory stays flat whatever their size) and kept open
        across a retry; httpx rewinds them. ``on_progress(sent, total)`` counts body bytes.
        """
        if not paths:
            raise InvalidInputError("No files to upload.")
        with ExitStack() as stack:
            files: list[tuple[str, tuple[str, IO[bytes], str]]] = []
            for raw in paths:
                path = Path(raw)
                try:
                    handle = stack.enter_context(open(path, "rb"))
                except OSError as err:
                    raise InvalidInputError(
                        f"Cannot read {path.name}: {err.strerror or err}."
                    ) from err
                ext = path.suffix.lower().lstrip(".")
                mime = contract.MIME_TYPES.get(ext, "application/octet-stream")
                files.append(("files", (path.name, handle, mime)))
            payload = await self._request(
                "POST",
                contract.upload_path(session_id),
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
            contract.upload_path(session_id),
            action=f"Uploading {len(urls)} URL(s)",
            json_body={"urls": list(urls), "source_type": "url"},
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
        body = {
            "app_name": contract.APP_NAME,
            "user_id": contract.USER_ID,
            "session_id": session_id,
            "new_message": {"parts": [{"text": text}]},
        }
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
            headers = {
                **self._api_headers(token),
                "Accept": "text/event-stream",
                "Cache-Control": "no-store",
            }
            request = self._http.build_request(
                "POST",
                self._api_url + contract.PATH_RUN_SSE,
                json=body,
                headers=headers,
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
                if is_json and not parse_envelope(decoded).ok:
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
            if (err.code == contract.CODE_TOKEN_INVALID or status == 401) and not reauthed:
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
        body = {
            "id": render_id,
            "sessionId": session_id,
            "draft": draft,
            "output": output if output is not None else {"format": "mp4", "quality": "high"},
        }

        def lost(exc: httpx.HTTPError | None) -> NemoError:
            why = type(exc).__name__ if exc is not None else "a gateway error"
            return AmbiguousSubmitError(
                f"The export request for {render_id} was sent but its answer was lost ({why}).",
                render_id=render_id,
            )

        payload = await self._request(
            "POST",
            contract.PATH_RENDER,
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
            contract.render_path(render_id),
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
            contract.render_cancel_path(render_id),
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
        removed on any failure. ``on_progress(written, total)``, total 0 while unknown.
        """
        dest = Path(dest)
        try:
            start = httpx.URL(url)
        except httpx.InvalidURL as err:
            raise InvalidInputError("That download link is not a valid URL.") from err
        if start.scheme not in ("http", "https"):
            raise InvalidInputError("Only http and https download links are supported.")
        if dest.exists() and not overwrite:
            raise DestinationExistsError(f"{dest.name} already exists; it was not overwritten.")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
        except OSError as err:
            raise DownloadError(
                f"Cannot write to the folder {dest.parent}: {err.strerror or err}.",
                hint="Choose a folder you can write to.",
            ) from err
        tmp = Path(tmp_name)
        _lock_part(fd)  # held until the file is closed: a live download is never swept
        try:
            _sweep_stale_parts(dest.parent)
            with os.fdopen(fd, "wb", buffering=constants.CHUNK_SIZE) as out:
                written, resumed = await self._fetch_into(start, out, on_progress, expected_size)
                out.flush()
                await anyio.to_thread.run_sync(os.fsync, out.fileno())
            if os.name != "nt":
                os.chmod(tmp, _file_mode())
            _place(tmp, dest, overwrite)
            _fsync_dir(dest.parent)
            log.info("downloaded %d bytes to %s (%d resume(s))", written, dest.name, resumed)
            return DownloadResult(path=dest, size=written, resumed=resumed)
        finally:
            tmp.unlink(missing_ok=True)

    async def _fetch_into(
        self,
        start: httpx.URL,
        out: IO[bytes],
        on_progress: DownloadProgress | None,
        expected_size: int | None,
    ) -> tuple[int, int]:
        host = start.host
        written = 0
        resumed = 0
        budget = constants.DOWNLOAD_MAX_RESUMES
        total: int | None = expected_size
        while True:
            headers = {"Accept-Encoding": "identity"}
            if written:
                headers["Range"] = f"bytes={written}-"
            try:
                async with self._open_download(start, headers) as response:
                    status = response.status_code
                    if status == 416 and written:
                        match = _CONTENT_RANGE_UNSAT_RE.match(
                            response.headers.get("content-range", "")
                        )
                        if match and int(match.group(1)) == written:
                            total = written  # we already had every byte
                            break
                        raise _Retryable("range not satisfiable")
                    if written and status == 206:
                        match = _CONTENT_RANGE_RE.match(response.headers.get("content-range", ""))
                        if not match or int(match.group(1)) != written:
                            log.info("download resumed at the wrong offset; starting over")
                            out.seek(0)
                            out.truncate()
                            written = 0
                            raise _Retryable("bad content-range")
                        if match.group(3) != "*":
                            total = _agree(total, int(match.group(3)), host)
                    elif status == 200:
                        if written:
                            log.info("download host ignored the Range request; starting over")
                            out.seek(0)
                            out.truncate()
                            written = 0
                        encoded = response.headers.get("content-encoding", "identity").lower()
                        length = response.headers.get("content-length")
                        if encoded in ("", "identity") and length and length.isdigit():
                            total = _agree(total, int(length), host)
                    elif status == 206:  # a range answer to a request without Range
                        match = _CONTENT_RANGE_RE.match(response.headers.get("content-range", ""))
                        if not match or int(match.group(1)) != 0:
                            raise DownloadError(f"The download from {host} sent a partial file.")
                        if match.group(3) != "*":
                            total = _agree(total, int(match.group(3)), host)
                    encoded = response.headers.get("content-encoding", "identity").lower()
                    # Bytes are written as they arrive (a re-chunking buffer would lose what it
                    # holds when the connection drops); the file object batches the disk writes.
                    chunks = (
                        response.aiter_raw()
                        if encoded in ("", "identity")
                        else response.aiter_bytes()
                    )
                    async for chunk in chunks:
                        out.write(chunk)
                        written += len(chunk)
                        budget = constants.DOWNLOAD_MAX_RESUMES  # progress: reset the budget
                        if total is not None and written > total:
                            raise DownloadError(
                                f"The download from {host} sent more than the expected "
                                f"{total} bytes; the file was discarded."
                            )
                        if on_progress is not None:
                            await _notify(on_progress, written, total or 0)
                    if total is not None and written < total:
                        raise _Retryable("body ended early")
                    break
            except (httpx.TransportError, _Retryable) as exc:
                if budget <= 0:
                    raise DownloadError(
                        f"The download from {host} kept failing after {written} bytes "
                        f"({type(exc).__name__})."
                    ) from exc
                budget -= 1
                if written:
                    resumed += 1
                delay = backoff_delay(constants.DOWNLOAD_MAX_RESUMES - budget - 1)
                log.info(
                    "download from %s interrupted at %d bytes (%s); retrying in %.1f s",
                    host,
                    written,
                    type(exc).__name__,
                    delay,
                )
                await self._sleep(delay)
        if expected_size is not None and written != expected_size:
            raise DownloadError(
                f"The download from {host} has {written} bytes, expected {expected_size}; "
                "the file was discarded."
            )
        if total is not None and written != total:
            raise DownloadError(
                f"The download from {host} has {written} bytes, the server announced {total}; "
                "the file was discarded."
            )
        return written, resumed

    @asynccontextmanager
    async def _open_download(
        self, start: httpx.URL, headers: dict[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """GET ``start``, following redirects by hand: the token goes to the API host only."""
        url = start
        timeout = httpx.Timeout(
            constants.READ_TIMEOUT,
            connect=constants.CONNECT_TIMEOUT,
            write=constants.WRITE_TIMEOUT,
            pool=constants.POOL_TIMEOUT,
        )
        for _hop in range(constants.MAX_REDIRECTS + 1):
            hop_headers = dict(headers)
            if self._is_api_origin(url):
                hop_headers.update(self._api_headers(await self.tokens.token()))
            request = self._http.build_request("GET", url, headers=hop_headers, timeout=timeout)
            log.debug("GET %s", safe_url(url))
            response = await self._http.send(request, stream=True)
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                location = response.headers["location"]
                await response.aclose()
                try:
                    following = url.join(location)
                except httpx.InvalidURL as err:
                    raise DownloadError(
                        f"The download from {start.host} redirected to an invalid address."
                    ) from err
                if following.scheme not in ("http", "https") or (
                    url.scheme == "https" and following.scheme == "http"
                ):
                    raise DownloadError(
                        f"The download from {start.host} redirected to an unsafe address."
                    )
                url = following
                continue
            if status not in (200, 206, 416):
                await response.aclose()
                if status in constants.RETRYABLE_STATUSES:
                    raise _Retryable(f"HTTP {status}")
                hint = (
                    "The download link may have expired: ask for the export status again to get "
                    "a fresh one."
                    if status in (401, 403, 404, 410)
                    else None
                )
                raise DownloadError(
                    f"The download from {url.host} answered HTTP {status}.",
                    hint=hint,
                    status=status,
                )
            try:
                yield response
            finally:
                await response.aclose()
            return
        raise DownloadError(f"The download from {start.host} redirected too many times.")


# ``tempfile.mkstemp`` names: <dest name>.<8 random characters>.part
_PART_NAME_RE = re.compile(r"^.+\.[a-z0-9_]{8}\.part$")


def _lock_part(fd: int) -> None:
    """Mark a temporary download file as in use (POSIX: an exclusive ``flock``).

    The lock goes away with the process, however it ends, so a ``.part`` file nobody holds was
    left by a process that died mid-download (SIGKILL, power loss): ``_sweep_stale_parts``
    removes those.
    """
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a file system without locks: the file is simply not protected
        log.debug("could not lock a temporary download file")


def _sweep_stale_parts(folder: Path) -> int:
    """Remove temporary download files left by dead processes; returns how many."""
    if fcntl is None:
        return 0
    removed = 0
    now = time.time()
    try:
        candidates = [p for p in folder.iterdir() if _PART_NAME_RE.match(p.name)]
    except OSError:
        return 0
    for path in candidates:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if now - os.fstat(fd).st_mtime < constants.STALE_PART_SECONDS:
                continue  # just created: its writer may not have locked it yet
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a download in progress (this process or another) holds it
            path.unlink(missing_ok=True)
            removed += 1
            log.info("removed a temporary download file left by an interrupted run")
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def _agree(known: int | None, announced: int, host: str | None) -> int:
    if known is not None and known != announced:
        raise DownloadError(
            f"The download from {host} is {announced} bytes, expected {known}; nothing was saved."
        )
    return announced


def _place(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Move the finished temporary file to ``dest`` atomically, never replacing a file unasked."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic, and fails if dest appeared meanwhile
    except FileExistsError as err:
        raise DestinationExistsError(
            f"{dest.name} already exists; it was not overwritten."
        ) from err
    except OSError:
        # Hard links unsupported here (some filesystems): rename is exclusive on Windows; on POSIX
        # check first (a narrow race, acceptable on such filesystems).
        if os.name == "nt":
            try:
                os.rename(tmp, dest)
            except FileExistsError as err:
                raise DestinationExistsError(
                    f"{dest.name} already exists; it was not overwritten."
                ) from err
            return
        if dest.exists():
            raise DestinationExistsError(
                f"{dest.name} already exists; it was not overwritten."
            ) from None
        os.replace(tmp, dest)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
