"""An incremental Server-Sent Events decoder with hard size caps, and an idle-timed frame reader.

The decoder follows the WHATWG event-stream rules where they matter for ``/run_sse`` and is
deliberately more tolerant where the contract asks for it:

- LF, CRLF and lone CR end a line, wherever the chunk boundaries fall (a CR that ends one chunk
  and an LF that starts the next are one line end, not two);
- a leading UTF-8 BOM is skipped; UTF-8 split across chunks is reassembled (lines are decoded
  only once complete, and invalid bytes become U+FFFD instead of an error);
- comment lines (``: ping``) are returned at once as frames with ``is_comment=True`` so that they
  can reset an idle timer;
- unlike a browser, an event whose data is empty (a bare ``data:`` line) is still returned, with
  ``data=""``: the contract treats it as a heartbeat. A block with only ``event:``/``id:``/
  ``retry:`` fields is returned with ``data=None``.
- ``close()`` processes an unterminated last line and returns a pending event (a browser would
  drop it): a clean close of a stream that forgot its final blank line loses nothing, and a
  truncated frame simply fails to parse later.

Memory is bounded: a line longer than ``max_line_bytes`` or an event whose joined data exceeds
``max_event_bytes`` raises :class:`SSELimitError` (a ``StreamError``) *before* the excess is
buffered, so an endless line never grows the decoder past its cap.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterable
from typing import NamedTuple, NoReturn

import anyio

from nemo_mcp.constants import MAX_SSE_EVENT_BYTES, MAX_SSE_LINE_BYTES
from nemo_mcp.errors import StreamError

__all__ = [
    "IdleTimeout",
    "SSEDecoder",
    "SSEFrame",
    "SSELimitError",
    "iter_frames",
]

log = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_MAX_RETRY_DIGITS = 12


class SSEFrame(NamedTuple):
    """One dispatched event, or one comment line.

    ``data`` is the joined ``data:`` lines (``""`` for a bare ``data:``) or ``None`` when the
    block had no data line (comments, field-only blocks). ``id`` is the ``id:`` field of this
    block, if any; the decoder's ``last_event_id`` keeps the most recent one across blocks.
    A named tuple: one is made per frame, and a tuple is the cheapest to make.
    """

    data: str | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    is_comment: bool = False
    comment: str = ""


class SSELimitError(StreamError):
    """A line or an event went over its size cap. Not retryable: the same event would recur.

    ``frames`` holds the frames completed in the same ``feed`` call before the violation, so a
    caller can still use them.
    """

    kind = "stream_too_large"

    def __init__(self, message: str, *, frames: list[SSEFrame] | None = None) -> None:
        super().__init__(
            message,
            hint="The agent stream sent an oversized event; the turn's result is read from the "
            "session state instead.",
        )
        self.frames: list[SSEFrame] = list(frames or [])


class IdleTimeout(StreamError):
    """No frame at all (not even a heartbeat or comment) arrived within the idle timeout.

    Raised by :func:`iter_frames`; a subclass of ``StreamError`` so a plain ``except
    StreamError`` also catches it.
    """

    kind = "stream_idle"
    retryable = True

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The agent stream sent nothing for {seconds:.0f} s.",
            hint="The message is not resent; the turn's result is read from the session state.",
        )
        self.seconds = seconds


class SSEDecoder:
    """Feed it bytes in any chunking; get back complete frames.

    After an :class:`SSELimitError` or ``close()`` the decoder is finished and every further
    call raises ``StreamError``.
    """

    __slots__ = (
        "_closed",
        "_data",
        "_data_bytes",
        "_event",
        "_fields",
        "_first_line",
        "_id",
        "_line",
        "_pending_cr",
        "_retry",
        "last_event_id",
        "max_event_bytes",
        "max_line_bytes",
    )

    def __init__(
        self,
        max_line_bytes: int = MAX_SSE_LINE_BYTES,
        max_event_bytes: int = MAX_SSE_EVENT_BYTES,
    ) -> None:
        if max_line_bytes < 1 or max_event_bytes < 1:
            raise ValueError("SSE size caps must be positive")
        self.max_line_bytes = max_line_bytes
        self.max_event_bytes = max_event_bytes
        self.last_event_id = ""
        self._line = bytearray()
        self._pending_cr = False
        self._first_line = True
        self._closed = False
        self._data: list[bytes] = []
        self._data_bytes = 0
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._fields = False

    # -- introspection (used by tests and the benchmark) ----------------------------------------
    @property
    def buffered_line_bytes(self) -> int:
        """Bytes of the current, not yet terminated line."""
        return len(self._line)

    @property
    def buffered_event_bytes(self) -> int:
        """Bytes of the joined data of the event being assembled."""
        return self._data_bytes

    @property
    def buffered_bytes(self) -> int:
        return len(self._line) + self._data_bytes

    # -- decoding -------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> list[SSEFrame]:
        if self._closed:
            raise StreamError("The SSE decoder is closed.")
        frames: list[SSEFrame] = []
        if not chunk:
            return frames
        if self._pending_cr:
            self._pending_cr = False
            if chunk[0] == 0x0A:  # the LF of a CRLF split across chunks
                chunk = chunk[1:]
                if not chunk:
                    return frames
        if self._first_line or b"\r" in chunk:
            self._feed_lines(chunk, frames)
            return frames
        # The usual stream: LF line ends only. Split on them, and take the common lines (a
        # "data: " line, the empty line ending an event) without the general line parser.
        lines = chunk.split(b"\n")
        last = lines.pop()  # the unterminated rest (b"" when the chunk ends a line)
        max_line = self.max_line_bytes
        line_buf = self._line
        try:
            for line in lines:
                if line_buf:
                    if len(line_buf) + len(line) > max_line:
                        self._fail_line(frames)
                    line_buf += line
                    line = bytes(line_buf)
                    line_buf.clear()
                elif len(line) > max_line:
                    self._fail_line(frames)
                if not line:
                    if self._fields:
                        self._dispatch(frames)
                elif line[:6] == b"data: ":
                    self._add_data(line[6:], frames)
                else:
                    self._process_line(line, frames)
            if last:
                if len(line_buf) + len(last) > max_line:
                    self._fail_line(frames)
                line_buf += last
        except SSELimitError:
            self._fail(line_buf)
            raise
        return frames

    def _feed_lines(self, chunk: bytes, frames: list[SSEFrame]) -> None:
        """Any line ends (CR, LF, CRLF, even split across chunks), and the first line's BOM."""
        pieces = chunk.splitlines(keepends=True)
        last = pieces[-1]
        complete = last[-1] in (0x0A, 0x0D)
        if chunk[-1] == 0x0D:
            self._pending_cr = True
        n_complete = len(pieces) if complete else len(pieces) - 1
        max_line = self.max_line_bytes
        line_buf = self._line
        try:
            for i in range(n_complete):
                piece = pieces[i]
                end = -2 if piece.endswith(b"\r\n") else -1
                if line_buf:
                    if len(line_buf) + len(piece) + end > max_line:
                        self._fail_line(frames)
                    line = bytes(line_buf) + piece[:end]
                    line_buf.clear()
                else:
                    if len(piece) + end > max_line:
                        self._fail_line(frames)
                    line = piece[:end]
                self._process_line(line, frames)
            if not complete:
                if len(line_buf) + len(last) > max_line:
                    self._fail_line(frames)
                line_buf += last
        except SSELimitError:
            self._fail(line_buf)
            raise

    def _fail(self, line_buf: bytearray) -> None:
        self._closed = True
        self._reset_event()
        line_buf.clear()

    def close(self) -> list[SSEFrame]:
        """End of stream: flush an unterminated last line and any pending event."""
        if self._closed:
            return []
        frames: list[SSEFrame] = []
        try:
            if self._line:
                line = bytes(self._line)
                self._line.clear()
                self._process_line(line, frames)
            self._dispatch(frames)
        finally:
            self._closed = True
            self._reset_event()
        return frames

    # -- internals ------------------------------------------------------------------------------
    def _fail_line(self, frames: list[SSEFrame]) -> NoReturn:
        raise SSELimitError(
            f"An agent stream line is longer than {self.max_line_bytes} bytes.", frames=frames
        )

    def _process_line(self, line: bytes, frames: list[SSEFrame]) -> None:
        if self._first_line:
            self._first_line = False
            if line.startswith(_BOM):
                line = line[3:]
        if not line:
            self._dispatch(frames)
            return
        if line[0] == 0x3A:  # ":" comment
            text = line[1:].decode("utf-8", "replace")
            frames.append(SSEFrame(is_comment=True, comment=text[1:] if text[:1] == " " else text))
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._add_data(value, frames)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
            self._fields = True
        elif name == b"id":
            if b"\x00" not in value:
                self._id = value.decode("utf-8", "replace")
                self.last_event_id = self._id
            self._fields = True
        elif name == b"retry":
            if value.isdigit() and len(value) <= _MAX_RETRY_DIGITS:
                self._retry = int(value)
            self._fields = True
        # any other field name is ignored, as the SSE rules require

    def _add_data(self, value: bytes, frames: list[SSEFrame]) -> None:
        size = self._data_bytes + len(value) + (1 if self._data else 0)
        if size > self.max_event_bytes:
            raise SSELimitError(
                f"An agent stream event is larger than {self.max_event_bytes} bytes.",
                frames=frames,
            )
        self._data.append(value)
        self._data_bytes = size
        self._fields = True

    def _dispatch(self, frames: list[SSEFrame]) -> None:
        if not self._fields:
            return
        parts = self._data
        data = None
        if parts:
            data = (parts[0] if len(parts) == 1 else b"\n".join(parts)).decode("utf-8", "replace")
            self._data = []
        frames.append(SSEFrame(data, self._event, self._id, self._retry))
        self._data_bytes = 0
        self._event = self._id = None
        self._retry = None
        self._fields = False

    def _reset_event(self) -> None:
        self._data = []
        self._data_bytes = 0
        self._event = None
        self._id = None
        self._retry = None
        self._fields = False


async def iter_frames(
    chunks: AsyncIterable[bytes],
    *,
    idle_timeout: float,
    max_line_bytes: int = MAX_SSE_LINE_BYTES,
    max_event_bytes: int = MAX_SSE_EVENT_BYTES,
) -> AsyncGenerator[SSEFrame, None]:
    """Decode an async byte stream into frames, with an idle timer.

    Every frame (events, heartbeats, comments) resets the timer; bytes that do not complete a
    frame do not. When ``idle_timeout`` seconds pass without a frame, :class:`IdleTimeout` (a
    ``StreamError``) is raised. Size violations raise :class:`SSELimitError` after yielding the
    frames completed before it. A clean end of ``chunks`` flushes the decoder (``close()``).
    The timer uses the event loop's clock (anyio cancel scopes).
    """
    decoder = SSEDecoder(max_line_bytes=max_line_bytes, max_event_bytes=max_event_bytes)
    iterator = aiter(chunks)
    deadline = anyio.current_time() + idle_timeout
    while True:
        chunk: bytes | None = None
        ended = False
        with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as scope:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                ended = True
        if scope.cancelled_caught:
            raise IdleTimeout(idle_timeout)
        if ended:
            break
        if not chunk:
            continue
        try:
            frames = decoder.feed(chunk)
        except SSELimitError as err:
            for frame in err.frames:
                yield frame
            raise
        if frames:
            deadline = anyio.current_time() + idle_timeout
            for frame in frames:
                yield frame
    for frame in decoder.close():
        yield frame
