"""The async NemoVideo API client: one ``httpx.AsyncClient``, every endpoint, every envelope.

- Every API request carries ``Authorization: Bearer …`` (from ``TokenProvider``), the three
  ``X-Skill-*`` attribution headers and ``User-Agent: nemo-mcp/<version>``. The token and the
  attribution headers go to the API host only, never to a download host.
- Answers are unwrapped from either envelope (``{"code":0,"data":…}``, ``{"success":true,…}``)
  or taken as bare objects; errors come from the envelope ``code`` and the HTTP status through
  ``errors.error_for``. Answers are read up to ``MAX_ANSWER_BYTES`` and ``MAX_JSON_DEPTH``
  (``answers``); ids go into URL paths only when well-formed, escaped (``paths.fill``).
- Retries follow one policy (``retry``): ``1001`` / HTTP 401: the token is dropped and fetched
  again, and the call retried once. HTTP 429: one wait (``Retry-After`` up to
  ``RETRY_AFTER_CAP``, else 30 s), one retry. 5xx, timeouts, dropped connections: GETs are
  retried with backoff; POSTs only when the failure provably happened before anything was sent.
- ``POST /run_sse`` is sent once. ``submit_render`` is never repeated after it was sent: a lost
  answer raises ``AmbiguousSubmitError`` so the caller can look the render id up first.
- Uploads stream from plain file objects (constant memory), the handles ``files`` checked,
  or from an async stream passed on chunk by chunk (``multipart``);
  downloads are ``downloads.Downloader``'s (bounded, resumed, atomic, public hosts only).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import anyio
import httpx

from nemo_mcp import __version__, constants
from nemo_mcp.api.attribution import attribution_for
from nemo_mcp.api.auth import Sleep, TokenProvider
from nemo_mcp.api.downloads import Downloader, DownloadProgress
from nemo_mcp.api.failures import actionable
from nemo_mcp.api.multipart import FileParts, StreamedBody, file_parts, streamed_part
from nemo_mcp.api.netguard import AddressGuard
from nemo_mcp.api.records import (
    Credits,
    DownloadResult,
    Identity,
    RenderPoll,
    SessionInfo,
    UploadReceipt,
    parse_credits,
    parse_render_poll,
    parse_session_info,
    parse_upload_receipt,
)
from nemo_mcp.api.retry import backoff_delay
from nemo_mcp.api.transport import ProgressCallback, Transport, timeout
from nemo_mcp.api.wire import DirectSender, default_transport, no_cookies
from nemo_mcp.config import Settings
from nemo_mcp.contract import account, paths, renders, stream, uploads
from nemo_mcp.errors import (
    AmbiguousSubmitError,
    APIError,
    InvalidInputError,
    NemoError,
    RenderNotFoundError,
    SessionNotFoundError,
)
from nemo_mcp.faces import Tool
from nemo_mcp.store import open_store
from nemo_mcp.store.base import StateStore

__all__ = ["NemoClient", "check_id"]


def check_id(value: str, what: str) -> str:
    """``value`` when it is a well-formed id, else an actionable ``InvalidInputError``."""
    if not paths.valid_id(value):
        shown = value[:40] + ("..." if len(value) > 40 else "")
        raise InvalidInputError(
            f"{shown!r} is not a valid {what} id (letters, digits, '_' and '-' only).",
            hint=f"Use a {what} id an earlier result returned"
            + (f" ({Tool.LIST_SESSIONS} lists the sessions)." if what == "session" else "."),
        )
    return value


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
        self._attribution = attribution_for(settings).headers()
        api_url = settings.api_url.rstrip("/")
        limits = httpx.Limits(max_connections=constants.MAX_CONNECTIONS)
        own = default_transport(limits) if transport is None else None
        self._http = httpx.AsyncClient(
            transport=transport if transport is not None else own,
            timeout=timeout(constants.READ_TIMEOUT),
            limits=limits,
            follow_redirects=False,
            headers={"User-Agent": f"nemo-mcp/{__version__}"},
            cookies=no_cookies(),
        )
        self.tokens = tokens or TokenProvider(
            settings, self.store, self._http, headers=self._attribution, sleep=sleep
        )
        self._transport = Transport(
            self._http,
            api_url,
            self.tokens,
            attribution=self._attribution,
            sleep=sleep,
            registration_url=self._registration_url,
            direct=DirectSender(self._http, own) if own is not None else None,
        )
        self._downloader = Downloader(
            self._http,
            guard=AddressGuard(api_url),
            api_headers=self._transport.token_headers,
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

    @property
    def attribution(self) -> dict[str, str]:
        """The ``X-Skill-Source`` / ``X-Skill-Version`` / ``X-Skill-Platform`` headers sent."""
        return dict(self._attribution)

    async def identity(self) -> Identity:
        """Who we are (token source, user id, expiry, client id); no network call."""
        return self.tokens.identity()

    def _registration_url(self) -> str | None:
        try:
            return self.settings.registration_url(self.tokens.identity().user_id)
        except NemoError:
            return None

    def _session_gone(self, session_id: str) -> SessionNotFoundError:
        return SessionNotFoundError(
            f"NemoVideo does not know session {session_id} (it expired or was deleted).",
            status=404,
        )

    def _render_gone(self, render_id: str) -> RenderNotFoundError:
        return RenderNotFoundError(f"NemoVideo does not know render {render_id}.", status=404)

    # --- sessions -------------------------------------------------------------------------

    @actionable
    async def create_session(self, language: str = "en", task_name: str = "project") -> SessionInfo:
        """Create a project with an editing-agent session (``session_id`` stays a string)."""
        payload = await self._transport.call(
            "POST",
            paths.CREATE_SESSION,
            action="Creating a session",
            json_body=account.session_request(task_name, language),
        )
        return parse_session_info(payload)

    @actionable
    async def claim_link(self, task_id: str, session_id: str) -> str:
        """A browser link to the project: ``$WEB/workspace/claim?ct=<claim token>``.

        The claim token is short-lived and meant for the link; the bearer token never goes in a
        URL.
        """
        payload = await self._transport.call(
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

    @actionable
    async def get_state(self, session_id: str) -> dict[str, Any]:
        """The session's latest state, unwrapped: ``{"session_id","task_id","state":{…}}``."""
        payload = await self._transport.call(
            "GET",
            paths.fill(paths.STATE, session_id=check_id(session_id, "session")),
            action="Reading the session state",
            not_found=lambda: self._session_gone(session_id),
        )
        if not isinstance(payload, dict):
            raise APIError("NemoVideo sent a session state that is not a JSON object.")
        return payload

    @actionable
    async def get_credits(self) -> Credits:
        payload = await self._transport.call(
            "GET", paths.CREDITS, action="Reading the credit balance"
        )
        return parse_credits(payload)

    # --- uploads --------------------------------------------------------------------------

    @actionable
    async def upload_files(
        self,
        session_id: str,
        items: Sequence[Path | str | tuple[str, IO[bytes]]],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> UploadReceipt:
        """Upload local files to the session in one multipart request (field ``files``).

        Each item is a path, or a ``(file name, open binary file)`` pair that is uploaded from
        that handle as it is (``files.uploads`` checks a file on the handle it opens, so the
        bytes sent are the bytes checked). Files are streamed (memory stays flat whatever their
        size) and kept open across a retry; httpx rewinds them. ``on_progress(sent, total)``
        counts body bytes.
        """
        if not items:
            raise InvalidInputError("No files to upload.")
        check_id(session_id, "session")
        with ExitStack() as stack:
            files = file_parts(items, stack)
            return await self._upload(session_id, files=files, on_progress=on_progress)

    @actionable
    async def upload_stream(
        self, session_id: str, name: str, chunks: AsyncIterable[bytes], *, size: int | None = None
    ) -> UploadReceipt:
        """Upload one file from ``chunks`` (``size`` bytes, if known), passed on as they come;
        sent once. An error raised by ``chunks`` aborts the request (``multipart``)."""
        return await self._upload(session_id, body=streamed_part(name, chunks, size))

    async def _upload(
        self,
        session_id: str,
        *,
        files: FileParts | None = None,
        body: StreamedBody | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> UploadReceipt:
        payload = await self._transport.call(
            "POST",
            paths.fill(paths.UPLOAD, session_id=check_id(session_id, "session")),
            action=f"Uploading {len(files) if files else 1} file(s)",
            files=files,
            streamed=body,
            timeout=timeout(constants.UPLOAD_READ_TIMEOUT),
            on_progress=on_progress,
            not_found=lambda: self._session_gone(session_id),
        )
        return parse_upload_receipt(payload)

    @actionable
    async def upload_urls(self, session_id: str, urls: Sequence[str]) -> UploadReceipt:
        """Have NemoVideo fetch media by URL (nothing is downloaded locally)."""
        if not urls:
            raise InvalidInputError("No URLs to upload.")
        payload = await self._transport.call(
            "POST",
            paths.fill(paths.UPLOAD, session_id=check_id(session_id, "session")),
            action=f"Uploading {len(urls)} URL(s)",
            json_body=uploads.url_request(list(urls)),
            timeout=timeout(constants.UPLOAD_READ_TIMEOUT),
            not_found=lambda: self._session_gone(session_id),
        )
        return parse_upload_receipt(payload)

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
        return self._transport.stream(
            paths.RUN_SSE,
            stream.run_request(session_id, text),
            timeout=timeout(constants.TURN_SOCKET_READ_TIMEOUT),
            not_found=lambda: self._session_gone(session_id),
        )

    # --- renders --------------------------------------------------------------------------

    @actionable
    async def submit_render(
        self,
        render_id: str,
        session_id: str,
        draft: Any,
        output: dict[str, Any] | None = None,
    ) -> RenderPoll:
        """Start an export. Never repeated once sent: see ``AmbiguousSubmitError``."""

        def lost(exc: httpx.HTTPError | None) -> NemoError:
            why = type(exc).__name__ if exc is not None else "a gateway error"
            return AmbiguousSubmitError(
                f"The export request for {render_id} was sent but its answer was lost ({why}).",
                render_id=render_id,
            )

        payload = await self._transport.call(
            "POST",
            paths.RENDER,
            action="Starting the export",
            json_body=renders.submit_request(render_id, session_id, draft, output),
            lost_answer=lost,
            not_found=lambda: self._session_gone(session_id),
        )
        if isinstance(payload, dict) and payload:
            return parse_render_poll(payload, render_id)
        return RenderPoll(render_id=render_id, status="pending")

    @actionable
    async def get_render(self, render_id: str) -> RenderPoll:
        payload = await self._transport.call(
            "GET",
            paths.fill(paths.RENDER_STATUS, render_id=check_id(render_id, "render")),
            action="Reading the export status",
            not_found=lambda: self._render_gone(render_id),
            not_found_by_message=True,
        )
        if payload is None:
            raise self._render_gone(render_id)
        return parse_render_poll(payload, render_id)

    @actionable
    async def cancel_render(self, render_id: str) -> RenderPoll | None:
        """Cancel a pending render; the new status if the server sent one."""
        payload = await self._transport.call(
            "POST",
            paths.fill(paths.RENDER_CANCEL, render_id=check_id(render_id, "render")),
            action="Cancelling the export",
            idempotent=True,  # cancelling twice is harmless
            not_found=lambda: self._render_gone(render_id),
            not_found_by_message=True,
        )
        if isinstance(payload, dict) and any(k in payload for k in renders.STATUS_KEYS):
            return parse_render_poll(payload, render_id)
        return None

    # --- downloads ------------------------------------------------------------------------

    @actionable
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
        ``files.outputs.choose_output_path`` for a free name). ``dest`` never exists
        half-written: bytes go to a temporary ``.part`` file beside it, which is moved into place
        only when complete and removed on any failure. ``on_progress(written, total)``, total 0
        while unknown. Only public hosts are fetched unless the API itself is local
        (``netguard``); sizes, attempts and time are bounded (``downloads``).
        """
        return await self._downloader.download(
            url, dest, overwrite=overwrite, on_progress=on_progress, expected_size=expected_size
        )
