"""Upload bodies: the ``files`` parts of ``POST /upload``, from open files or as a stream.

Open files go to httpx as they are (its multipart encoder reads sync file objects in chunks and
rewinds them for a retry). A body that arrives as an async stream (a signed-link PUT in hosted
mode) cannot go that way: httpx's encoder reads only sync files, so an async generator would be
read whole first. :func:`streamed_part` frames one file part around the stream itself, chunk by
chunk, with the part headers httpx would write, and says the total length when the file's size
is known (so NemoVideo gets a ``Content-Length``, else the body goes chunked). Such a body can be
sent once only: the transport never repeats it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nemo_mcp.contract import uploads
from nemo_mcp.contract.media import mime_type
from nemo_mcp.errors import InvalidInputError

FileParts = list[tuple[str, tuple[str, IO[bytes], str]]]


def file_parts(items: Sequence[Path | str | tuple[str, IO[bytes]]], stack: ExitStack) -> FileParts:
    """httpx ``files=`` for paths (opened on ``stack``) and ``(name, open file)`` pairs."""
    files: FileParts = []
    for raw in items:
        if isinstance(raw, tuple):
            name, handle = raw
        else:
            path = Path(raw)
            name = path.name
            try:
                handle = stack.enter_context(open(path, "rb"))  # noqa: SIM115
            except OSError as err:
                raise InvalidInputError(f"Cannot read {path.name}: {err.strerror or err}.") from err
        files.append((uploads.FILES_FIELD, (name, handle, mime_type(Path(name).suffix))))
    return files


def _quoted(value: str) -> str:
    """A form-data parameter value as httpx (and the HTML standard) writes it."""
    escapes = {'"': "%22", "\\": "\\\\", "\r": "%0D", "\n": "%0A"}
    return "".join(escapes.get(ch, ch) for ch in value)


@dataclass(frozen=True)
class StreamedBody:
    """A multipart body made while it is sent: its content type, length (None: unknown, the
    request goes chunked) and chunks."""

    content_type: str
    length: int | None
    chunks: AsyncIterator[bytes]


def streamed_part(name: str, chunks: AsyncIterable[bytes], size: int | None) -> StreamedBody:
    """One ``files`` part named ``name`` whose bytes are ``chunks`` (``size`` of them, if
    known), framed as multipart/form-data without holding the file."""
    boundary = secrets.token_hex(16)
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{uploads.FILES_FIELD}"; '
        f'filename="{_quoted(name)}"\r\n'
        f"Content-Type: {mime_type(Path(name).suffix)}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        async for chunk in chunks:
            if chunk:
                yield chunk
        yield tail

    length = None if size is None else len(head) + size + len(tail)
    return StreamedBody(f"multipart/form-data; boundary={boundary}", length, body())
