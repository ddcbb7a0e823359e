"""The one request loop of the API client: token, headers, the retry policy, errors.

Every API call goes through :meth:`Transport.call` (a JSON answer, unwrapped from its envelope)
or :meth:`Transport.stream` (the ``/run_sse`` event stream, handed over open). Both send the
request, apply ``retry``'s decisions to what happens (a transport failure, an error answer), and
raise the error that is left, converted by ``failures`` (transport) or ``answers`` (status and
envelope). The token comes from the token provider for every attempt, so a token renewed after a
401 / 1001 is the one sent next.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import httpx

from nemo_mcp import constants
from nemo_mcp.api import failures, retry
from nemo_mcp.api.answers import (
    decode_answer,
    decode_json,
    parse_retry_after,
    read_answer,
    read_capped,
    response_error,
)
from nemo_mcp.api.multipart import StreamedBody
from nemo_mcp.api.wire import DirectSender
from nemo_mcp.contract import envelopes, headers
from nemo_mcp.errors import APIError, APIStatusError, NemoError, StreamError

if TYPE_CHECKING:
    from nemo_mcp.api.auth import TokenProvider

log = logging.getLogger(__name__)

# on_progress(done_bytes, total_bytes); total is 0 when the size is not known yet.
ProgressCallback = Callable[[int, int], Awaitable[None] | None]
Sleep = Callable[[float], Awaitable[None]]
Files = Sequence[tuple[str, tuple[str, IO[bytes], str]]]
NotFound = Callable[[], NemoError]
Lost = Callable[[httpx.HTTPError | None], NemoError]

_NOT_FOUND_RE = re.compile(r"(?i)not\s*found|no such|does not exist|unknown render")


def timeout(read: float) -> httpx.Timeout:
    """The time limits of a request: ``read`` seconds of silence, and the fixed others."""
    return httpx.Timeout(
        read,
        connect=constants.CONNECT_TIMEOUT,
        write=constants.WRITE_TIMEOUT,
        pool=constants.POOL_TIMEOUT,
    )


async def notify(callback: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Call a progress callback, sync or async."""
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


class _ProgressStream(httpx.AsyncByteStream):
    """Wraps a request body, reporting bytes handed to the transport (at most once per MiB)."""

    def __init__(self, inner: Any, total: int, callback: ProgressCallback) -> None:
        self._inner = inner
        self._total = total
        self._callback = callback

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        reported = 0
        await notify(self._callback, 0, self._total)
        async for chunk in self._inner:
            yield chunk
            sent += len(chunk)
            if sent - reported >= constants.CHUNK_SIZE or sent == self._total:
                reported = sent
                await notify(self._callback, sent, self._total)

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


@dataclass(frozen=True)
class _Answered:
    """An attempt got an answer: the value to return, or the error it stands for."""

    value: Any = None
    err: NemoError | None = None
    status: int = 200
    retry_after: float | None = None


class Transport:
    """Sends API requests for one ``NemoClient``: its HTTP client, token provider and headers.

    ``direct`` sends plain JSON calls straight to the client's own transport, when nemo-mcp
    built it (``wire.DirectSender``); uploads, the event stream and all else go through the
    client.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        tokens: TokenProvider,
        *,
        attribution: Mapping[str, str],
        sleep: Sleep,
        registration_url: Callable[[], str | None],
        direct: DirectSender | None = None,
    ) -> None:
        self._http = http
        self._direct = direct
        self._api_url = api_url
        self._tokens = tokens
        self._attribution = dict(attribution)
        self._sleep = sleep
        self._registration_url = registration_url

    def api_headers(self, token: str) -> dict[str, str]:
        """The headers every API request carries: the bearer token and the attribution."""
        return {**headers.bearer(token), **self._attribution}

    async def token_headers(self) -> dict[str, str]:
        return self.api_headers(await self._tokens.token())

    def _error(self, response: httpx.Response, content: bytes) -> _Answered:
        retry_after = parse_retry_after(response.headers)
        err = response_error(
            response.status_code,
            content,
            response.headers.get("content-type"),
            retry_after=retry_after,
            registration_url=self._registration_url(),
        )
        return _Answered(err=err, status=response.status_code, retry_after=retry_after)

    # --- the loop -------------------------------------------------------------------------
    async def _loop(
        self,
        attempt: Callable[[str], Awaitable[_Answered]],
        policy: retry.Policy,
        *,
        what: str,
        action: str,
        not_found: NotFound | None = None,
        not_found_by_message: bool = False,
        lost: Lost | None = None,
    ) -> Any:
        """Run ``attempt(token)`` until it answers with a value, applying the retry policy."""
        tried = retry.Attempts()
        while True:
            token = await self._tokens.token()
            log.debug("%s (retry %d)", what, tried.retries)
            try:
                answered = await attempt(token)
            except httpx.TransportError as exc:
                step = retry.after_failure(exc, policy, tried)
                if step.action == "retry":
                    tried.retries += 1
                    log.debug(
                        "%s failed (%s); retrying in %.1f s", what, type(exc).__name__, step.delay
                    )
                    await self._sleep(step.delay)
                    continue
                if step.action == "lost":
                    raise (lost(exc) if lost else failures.outcome_unknown(exc, action)) from exc
                raise failures.transport_error(exc, action) from exc
            err = answered.err
            if err is None:
                return answered.value
            status = answered.status
            log.debug("%s -> HTTP %d", what, status)
            step = retry.after_answer(status, err, answered.retry_after, policy, tried)
            if step.action == "reauth":
                tried.reauthed = True
                await self._tokens.invalidate(token)  # raises for a NEMO_TOKEN / login token
                log.info("token rejected; retrying %s with a fresh one", what)
                continue
            if step.action == "wait":
                tried.rate_waited = True
                log.info("rate limited on %s; retrying once in %.0f s", what, step.delay)
                await self._sleep(step.delay)
                continue
            if step.action == "lost" and lost is not None:
                raise lost(None)
            if step.action == "retry":
                tried.retries += 1
                log.debug("%s answered HTTP %d; retrying in %.1f s", what, status, step.delay)
                await self._sleep(step.delay)
                continue
            if not_found is not None and (
                status == 404
                or (
                    not_found_by_message
                    and type(err) is APIStatusError
                    and _NOT_FOUND_RE.search(err.message) is not None
                )
            ):
                raise not_found() from err
            raise err

    # --- JSON calls -----------------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        json_body: Any = None,
        files: Files | None = None,
        streamed: StreamedBody | None = None,
        timeout: httpx.Timeout | None = None,
        idempotent: bool | None = None,
        on_progress: ProgressCallback | None = None,
        not_found: NotFound | None = None,
        not_found_by_message: bool = False,
        lost_answer: Lost | None = None,
    ) -> Any:
        """Send one API call and return its unwrapped payload (None for an empty answer).

        ``idempotent`` defaults to GET/HEAD. ``lost_answer`` builds the error for a request
        whose answer was lost after sending (and for a 502/504 gateway answer); ``not_found``
        the error for a 404 (or, with ``not_found_by_message``, for an unclassified error whose
        text says "not found"). A ``streamed`` body can be read once: it is never sent again.
        """
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        policy = retry.Policy(idempotent=idempotent, gateway_loses_answer=lost_answer is not None)
        extra: dict[str, str] = {}
        if streamed is not None:
            policy = retry.Policy(idempotent=False, retry_unsent=False, wait_rate_limit=False)
            extra["Content-Type"] = streamed.content_type
            if streamed.length is not None:
                extra["Content-Length"] = str(streamed.length)
        url = self._api_url + path
        sent: list[bool] = []
        plain = files is None and streamed is None and on_progress is None

        async def attempt(token: str) -> _Answered:
            if streamed is not None and sent:
                # only a refused token repeats a streamed body: refused, so nothing was kept
                raise APIError(f"{action}: NemoVideo refused the token; send the file again.")
            sent.append(True)
            if plain and self._direct is not None:
                response = await self._direct.send(
                    method, url, self.api_headers(token), json_body, timeout
                )
            else:
                request = self._http.build_request(
                    method,
                    url,
                    json=json_body,
                    files=files,
                    content=streamed.chunks if streamed is not None else None,
                    headers={**self.api_headers(token), **extra},
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
                if on_progress is not None:
                    total = int(request.headers.get("content-length") or 0)
                    request.stream = _ProgressStream(request.stream, total, on_progress)
                response = await self._http.send(request, stream=True)
            try:
                ok = 200 <= response.status_code < 300
                content = await (read_answer(response, action) if ok else read_capped(response))
            finally:
                await response.aclose()
            if not ok:
                return self._error(response, content)
            is_json, body = decode_answer(content, action)
            if not is_json:
                if not content.strip():
                    return _Answered(value=None)
                kind = (response.headers.get("content-type") or "no content type").split(";")[0]
                raise APIError(
                    f"{action}: NemoVideo sent an answer that is not JSON ({kind}, "
                    f"{len(content)} bytes)."
                )
            envelope = envelopes.unwrap(body)
            if envelope.ok:
                return _Answered(value=envelope.payload)
            return self._error(response, content)

        return await self._loop(
            attempt,
            policy,
            what=f"{method} {path}",
            action=action,
            not_found=not_found,
            not_found_by_message=not_found_by_message,
            lost=lost_answer,
        )

    # --- the event stream -----------------------------------------------------------------
    @asynccontextmanager
    async def stream(
        self, path: str, body: Any, *, timeout: httpx.Timeout, not_found: NotFound
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """POST ``body`` to ``path`` once and yield the event stream's raw body chunks.

        Nothing is repeated but the one re-authentication: a 401 / 1001 answer proves the server
        refused the message before running it, so sending it again with a fresh token cannot
        start the work twice. A 404 is ``not_found()``; an answer lost after sending is
        ``OutcomeUnknownError``; a break after the stream started is ``StreamInterruptedError``.
        """
        policy = retry.Policy(idempotent=False, retry_unsent=False, wait_rate_limit=False)
        url = self._api_url + path

        async def attempt(token: str) -> _Answered:
            sent = {**self.api_headers(token), "Accept": headers.EVENT_STREAM}
            sent["Cache-Control"] = "no-store"
            request = self._http.build_request(
                "POST", url, json=body, headers=sent, timeout=timeout
            )
            response = await self._http.send(request, stream=True)
            status = response.status_code
            content_type = response.headers.get("content-type", "")
            if status == 200 and headers.EVENT_STREAM in content_type.lower():
                return _Answered(value=response)
            try:
                content = await read_capped(response)
            except httpx.TransportError:
                content = b""
            finally:
                await response.aclose()
            if 200 <= status < 300:
                is_json, decoded = decode_json(content)
                if not (is_json and not envelopes.unwrap(decoded).ok):
                    raise StreamError(
                        "NemoVideo answered the message without an event stream "
                        f"({content_type.split(';')[0] or 'no content type'})."
                    )
            return self._error(response, content)

        try:
            response: httpx.Response = await self._loop(
                attempt,
                policy,
                what=f"POST {path}",
                action="Sending the message",
                not_found=not_found,
                lost=failures.message_lost,
            )
        except NemoError as err:
            raise failures.with_next_step(err)  # noqa: B904 (the same exception, re-raised)
        chunks = _chunks(response)
        try:
            yield chunks
        finally:
            await chunks.aclose()
            await response.aclose()


async def _chunks(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in response.aiter_bytes():
            if chunk:
                yield chunk
    except httpx.TransportError as exc:
        raise failures.stream_broken(exc) from exc
