"""The studio behind a running server, opened off the start-up path.

The server's lifespan yields a :class:`StudioSlot` at once; the studio itself (the client, the
store, the stream core: most of nemo-mcp's imports) opens in the lifespan's own task when it is
first needed, shortly after the client's first ``tools/list``, or at the latest
:data:`OPEN_AFTER_START` after the server started, so that interrupted renders still resume
without being asked. A handler awaits :meth:`StudioSlot.get` (or the server does
it for the handler) and then reads :attr:`StudioSlot.studio`.

Opening in one task and closing in the same task matters: the studio holds a task group. A
studio that fails to open does not stop the server: each call that needs it gets the error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from nemo_mcp.studio.facade import Studio

log = logging.getLogger(__name__)

# After the first tools/list the studio opens this much later: the answer is on its way first
# (opening imports a lot, and the interpreter has one lock for it all).
OPEN_AFTER_LISTING = 0.2
# With no request at all, it opens this long after the server started (a client that starts a
# server sends initialize and tools/list well within it).
OPEN_AFTER_START = 0.5

Opener = Callable[[], AbstractAsyncContextManager["Studio"]]


class StudioSlot:
    def __init__(self, opener: Opener, on_open: Callable[[Studio], None]) -> None:
        self._opener = opener
        self._on_open = on_open
        self._wanted = anyio.Event()  # someone wants it, now or soon
        self._now = anyio.Event()  # someone needs it now (or the server is closing)
        self._ready = anyio.Event()
        self._stop = anyio.Event()
        self._studio: Studio | None = None
        self._error: BaseException | None = None

    @property
    def studio(self) -> Studio:
        """The open studio; only after :meth:`get` returned."""
        if self._studio is None:
            raise RuntimeError("the studio is not open: await StudioSlot.get() first")
        return self._studio

    def want(self, *, soon: bool = False) -> None:
        """Open the studio now (``soon``: a moment from now, after the current answer)."""
        self._wanted.set()
        if not soon:
            self._now.set()

    async def get(self) -> Studio:
        """The studio, opening it first if needed; its opening error if it could not open."""
        if not self._ready.is_set():  # (waiting on a set event still yields to the loop)
            self.want()
            await self._ready.wait()
        if self._error is not None:
            raise self._error
        return self.studio

    def close(self) -> None:
        self._stop.set()
        self._now.set()
        self._wanted.set()

    async def keep(self) -> None:
        """Run in the lifespan's task group: open when wanted, hold open until closed."""
        with anyio.move_on_after(OPEN_AFTER_START):
            await self._wanted.wait()
        if self._wanted.is_set():  # after a tools/list, its answer goes out first
            with anyio.move_on_after(OPEN_AFTER_LISTING):
                await self._now.wait()
        if self._stop.is_set():  # closing before anyone needed it: nothing to open
            self._error = RuntimeError("the server is shutting down")
            self._ready.set()
            return
        try:
            async with self._opener() as studio:
                self._studio = studio
                self._on_open(studio)
                self._ready.set()
                await self._stop.wait()
        except Exception as err:  # told to every call that needs the studio
            log.warning("the studio could not open: %s", err)
            self._error = err
            self._ready.set()
        finally:
            self._studio = None
