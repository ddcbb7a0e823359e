"""Uploads without the server's disk: a short-lived signed link the user's client PUTs a file to.

``nemo_upload_link`` (a tool, hosted mode only) returns ``PUT <public base>/uploads/<ticket>``:
the ticket names the user, the session and the file name, expires after ``LINK_SECONDS``, and is
signed with HMAC-SHA256 under a key derived from ``NEMO_MCP_TOKEN_KEY`` (so every worker accepts
every other's links, and nobody can forge or alter one). The PUT is checked before anything is
sent on: the ticket, the size (``Content-Length`` and the bytes actually received, against the
skill's upload limit), and the type (the name's extension and the file's first bytes). The
body is never held whole nor written to disk: after its first bytes pass, it is streamed on to
NemoVideo chunk by chunk into the user's session (``NemoClient.upload_stream``), counted on the
way. A body that turns out too big mid-stream, or whose sender goes away, aborts that upload
(NemoVideo keeps nothing of a body that did not end). A link is used once: it is marked used
when the first bytes passed (so two PUTs cannot both store a file), and made usable again when
nothing was stored (a refusal, an abort); only an upload whose answer was lost keeps it used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from nemo_mcp import constants
from nemo_mcp.errors import (
    FileTooLargeError,
    InvalidInputError,
    NemoError,
    OutcomeUnknownError,
    UnsupportedFileError,
)
from nemo_mcp.faces import Tool
from nemo_mcp.mcp.context import studio_of
from nemo_mcp.mcp.results import error_result
from nemo_mcp.media import containers

if TYPE_CHECKING:
    from nemo_mcp.hosted.studios import HostedStudios

log = logging.getLogger(__name__)

LINK_SECONDS = 15 * 60
TOOL_NAME = "nemo_upload_link"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UploadLinks:
    """Signs and checks upload tickets (see the module docstring)."""

    def __init__(self, token_key: str, public_base: str) -> None:
        self._key = hmac.new(token_key.encode(), b"nemo-mcp upload links", hashlib.sha256).digest()
        self.base = public_base.rstrip("/")

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def make(self, owner: str, session_id: str, filename: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + LINK_SECONDS)
        payload = _b64(
            json.dumps({"o": owner, "s": session_id, "f": filename, "e": expires}).encode()
        )
        return f"{self.base}/uploads/{payload}.{self._sign(payload)}"

    def check(self, ticket: str, now: float | None = None) -> tuple[str, str, str]:
        """(owner, session id, file name) of a valid ticket; ``InvalidInputError`` otherwise."""
        payload, _, signature = ticket.partition(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            raise InvalidInputError("This upload link is not valid.", hint="Ask for a new one.")
        try:
            data = json.loads(_unb64(payload))
            owner, sid, name, expires = data["o"], data["s"], data["f"], float(data["e"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInputError("This upload link is not valid.") from None
        if expires < (now or time.time()):
            raise InvalidInputError("This upload link has expired.", hint="Ask for a new one.")
        return str(owner), str(sid), str(name)


class UploadLinkView(BaseModel):
    upload_url: str
    method: str = "PUT"
    session_id: str
    expires_in_s: int
    max_bytes: int


def _check_name(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name.strip()
    if not name or containers.kind_of(Path(name)) is None:
        raise UnsupportedFileError(
            f"{filename[:80]!r} is not a supported media file name.",
            hint="Name the file with its real extension (.mp3, .mp4, .jpg, ...).",
        )
    return name


class CheckedBody:
    """A PUT body checked as it passes: its declared size up front, its type on its first
    bytes (before anything is sent on), and the bytes counted against the limit on the way
    (:class:`FileTooLargeError` mid-stream aborts the upload NemoVideo is receiving)."""

    def __init__(self, request: Request, name: str, limit: int) -> None:
        self.name, self.limit = name, limit
        self._incoming = request.stream().__aiter__()
        self._head = b""
        length = request.headers.get("content-length")
        self.declared = int(length) if length is not None and length.isdigit() else None
        if self.declared is not None and self.declared > limit:
            raise self._too_large()

    def _too_large(self) -> FileTooLargeError:
        return FileTooLargeError(
            f"{self.name} is larger than the {self.limit // 1_048_576} MB limit."
        )

    async def check_head(self) -> None:
        """Read the first bytes (nothing else is held) and check they are the named type."""
        async for chunk in self._incoming:
            self._head += chunk
            if len(self._head) >= constants.SNIFF_BYTES:
                break
        suffix = Path(self.name).suffix
        if not self._head or containers.family_for(suffix, self._head) is None:
            raise UnsupportedFileError(
                f"The bytes sent are not {suffix.lstrip('.').upper()} media."
            )

    async def chunks(self) -> AsyncIterator[bytes]:
        """The whole body, the first bytes again first, counted as it passes."""
        count = len(self._head)
        if count > self.limit:
            raise self._too_large()
        yield self._head
        async for chunk in self._incoming:
            count += len(chunk)
            if count > self.limit:
                raise self._too_large()
            yield chunk


def add_upload_links(mcp: MCPServer, links: UploadLinks, studios: Any) -> None:
    """The ``nemo_upload_link`` tool and the ``PUT /uploads/<ticket>`` route."""

    @mcp.tool(
        name=TOOL_NAME,
        title="Get a link to upload a file",
        description="This server cannot read files from the user's computer. For a local file, "
        "get a short-lived link here and PUT the file's bytes to it (for example: curl -T "
        f"song.mp3 '<link>'); for media already online, pass its URL to {Tool.UPLOAD}.",
    )
    async def nemo_upload_link(
        ctx: Context,
        filename: Annotated[str, Field(description="The file's name, with its extension")],
        session_id: Annotated[
            str | None, Field(description="Session (project) id; default: the current one")
        ] = None,
    ) -> Annotated[CallToolResult, UploadLinkView]:
        try:
            name = _check_name(filename)
            studio = studio_of(ctx)
            rec = await studio._session(session_id)
            owner = studio.store.owner
        except NemoError as err:
            return error_result(err)
        url = links.make(owner, rec.session_id, name)
        limit = studio.manifest.max_upload_bytes
        data = UploadLinkView(
            upload_url=url, session_id=rec.session_id, expires_in_s=LINK_SECONDS, max_bytes=limit
        ).model_dump()
        text = (
            f"PUT {name} to this link within {LINK_SECONDS // 60} minutes (at most "
            f"{limit // 1_048_576} MB): {url}\nFor example: curl -T '{name}' '{url}'\n"
            f"It lands in session {rec.session_id}. Next: {Tool.CHAT} with what to make."
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=data
        )

    async def put_upload(request: Request) -> Response:
        holder: HostedStudios | None = studios()
        ticket = request.path_params["ticket"]
        claimed: Any = None  # the user's store view once the link is marked used
        key = "upload:" + ticket[-43:]
        try:
            owner, sid, name = links.check(ticket)
            if holder is None:
                raise NemoError("The server is starting; retry in a moment.")
            view = holder.database.for_owner(owner)
            cred = view.load_credential(holder.settings.api_url)
            if cred is None or view.get_session(sid) is None:
                raise InvalidInputError("This upload link is not valid.")
            studio = await holder.ensure(owner, cred.token)
            incoming = CheckedBody(request, name, studio.manifest.max_upload_bytes)
            await incoming.check_head()
            # used once: marked when the first bytes passed, forgotten if nothing was stored
            if not view.first_use(key):
                raise InvalidInputError(
                    "This upload link was used already.", hint="Ask for a new one."
                )
            claimed = view
            receipt = await studio.client.upload_stream(
                sid, name, incoming.chunks(), size=incoming.declared
            )
            claimed = None  # stored: the link stays used
            await studio._changed(sid)
        except (NemoError, ClientDisconnect) as err:
            if claimed is not None and not isinstance(err, OutcomeUnknownError):
                claimed.forget_use(key)  # NemoVideo kept nothing: the link works again
            if not isinstance(err, NemoError):
                log.info("an upload through a link stopped: the sender went away")
                return Response(status_code=400)
            status = 413 if isinstance(err, FileTooLargeError) else (err.status or 400)
            return JSONResponse({"error": err.to_dict()}, status_code=min(max(status, 400), 599))
        return JSONResponse({"uploaded": name, "session_id": sid, "files": len(receipt.files)})

    mcp.custom_route("/uploads/{ticket}", methods=["PUT"])(put_upload)
