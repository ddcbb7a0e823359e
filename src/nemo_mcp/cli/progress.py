"""Progress on stderr while a command waits.

On a terminal, progress is one live line (``\\r`` updates, a bar when the total is known),
cleared before the result is printed. Otherwise (an agent capturing output, a log file) it is
plain timestamped lines, printed when the message changes and at most every 30 s otherwise.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from nemo_mcp.redact import redact

if TYPE_CHECKING:
    from nemo_mcp.studio.views import Progress

_SPINNER = "|/-\\"
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
PLAIN_REPEAT_EVERY = 30.0
TTY_REDRAW_EVERY = 0.1
BAR_WIDTH = 24


class ProgressPrinter:
    """An ``on_progress`` callback for the studio that draws on stderr."""

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool = True,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._live = False
        self._spin = 0
        self._last_draw = -1e9
        self._last_shape: str | None = None
        self._last_plain = -1e9
        self.lines: list[str] = []  # what was shown (tests, and nothing else)

    async def __call__(self, note: Progress) -> None:
        self.show(note)

    def show(self, note: Progress) -> None:
        if not self.enabled:
            return
        message = redact(note.message.strip())
        now = self._clock()
        if self.tty:
            if now - self._last_draw < TTY_REDRAW_EVERY:
                return
            self._last_draw = now
            self._spin = (self._spin + 1) % len(_SPINNER)
            line = f"{_SPINNER[self._spin]} {message}"
            bar = _bar(note)
            if bar:
                line += f" {bar}"
            width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
            self.stream.write("\r\x1b[2K" + line[:width])
            self.stream.flush()
            self._live = True
            self.lines.append(line)
            return
        shape = _DIGITS.sub("#", message)
        if shape == self._last_shape and now - self._last_plain < PLAIN_REPEAT_EVERY:
            return
        self._last_shape = shape
        self._last_plain = now
        line = f"[{datetime.now().strftime('%H:%M:%S')}] {message}"
        self.stream.write(line + "\n")
        self.stream.flush()
        self.lines.append(line)

    def note(self, message: str) -> None:
        """A one-off status line (e.g. "routed to export")."""
        from nemo_mcp.studio.views import Progress

        self.show(Progress(message=message))
        if self.tty and self.enabled:
            self.clear()
            self.stream.write(redact(message) + "\n")
            self.stream.flush()

    def clear(self) -> None:
        if self._live:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._live = False


def _bar(note: Progress) -> str:
    if note.progress is None or not note.total:
        return ""
    frac = max(0.0, min(1.0, note.progress / note.total))
    filled = round(frac * BAR_WIDTH)
    return "[" + "#" * filled + "." * (BAR_WIDTH - filled) + f"] {frac * 100:3.0f}%"


# --------------------------------------------------------------------------------- results
