"""Uploads without the server's disk: a short-lived signed link the user's client PUTs a file to.

``nemo_upload_link`` (a tool, hosted mode only) returns ``PUT <public base>/uploads/<ticket>``:
the ticket names the user, the session and the file name, expires after ``LINK_SECONDS``, and is
signed with HMAC-SHA256 under a key derived from ``NEMO_MCP_TOKEN_KEY`` (so every worker accepts
every other's links, and nobody can forge or alter one). The PUT is checked before anything is
sent on: the ticket, the size (``Content-Length`` and the bytes actually received, against the
skill's upload limit), and the type (the name's extension and the file's first bytes). The
body is held in memory, never written to disk, and sent on to NemoVideo into the user's session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nemo_mcp import constants
from nemo_mcp.errors import FileTooLargeError, InvalidInputError, NemoError, UnsupportedFileError
from nemo_mcp.faces import Tool
from nemo_mcp.mcp.context import studio_of
from nemo_mcp.mcp.results import error_result
from nemo_mcp.media import containers

if TYPE_CHECKING:
    from nemo_mcp.hosted.studios import HostedStudios

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
        try:
            owner, sid, name = links.check(request.path_params["ticket"])
            if holder is None:
                raise NemoError("The server is starting; retry in a moment.")
            view = holder.database.for_owner(owner)
            cred = view.load_credential(holder.settings.api_url)
            if cred is None or view.get_session(sid) is None:
                raise InvalidInputError("This upload link is not valid.")
            studio = await holder.ensure(owner, cred.token)
            limit = studio.manifest.max_upload_bytes
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise FileTooLargeError(f"{name} is larger than the {limit // 1_048_576} MB limit.")
            body = io.BytesIO()
            async for chunk in request.stream():
                body.write(chunk)
                if body.tell() > limit:
                    raise FileTooLargeError(
                        f"{name} is larger than the {limit // 1_048_576} MB limit."
                    )
            head = body.getvalue()[: constants.SNIFF_BYTES]
            if not head or containers.family_for(Path(name).suffix, head) is None:
                raise UnsupportedFileError(
                    f"The bytes sent are not {Path(name).suffix.lstrip('.').upper()} media."
                )
            # used once: marked when the file passed its checks, just before it is sent on
            if not view.first_use("upload:" + request.path_params["ticket"][-43:]):
                raise InvalidInputError(
                    "This upload link was used already.", hint="Ask for a new one."
                )
            body.seek(0)
            receipt = await studio.client.upload_files(sid, [(name, body)])
            await studio._changed(sid)
        except NemoError as err:
            status = 413 if isinstance(err, FileTooLargeError) else (err.status or 400)
            return JSONResponse({"error": err.to_dict()}, status_code=min(max(status, 400), 599))
        return JSONResponse({"uploaded": name, "session_id": sid, "files": len(receipt.files)})

    mcp.custom_route("/uploads/{ticket}", methods=["PUT"])(put_upload)
