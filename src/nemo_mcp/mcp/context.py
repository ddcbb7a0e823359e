"""What a tool or resource handler takes from its request: the studio (in the slot the server's
lifespan yields, opened before the handler runs), and a relay from studio progress notes to MCP
progress notifications."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from mcp.server.mcpserver import Context

from nemo_mcp.mcp.slot import StudioSlot

if TYPE_CHECKING:
    from nemo_mcp.studio.facade import Studio
    from nemo_mcp.studio.views import Progress

log = logging.getLogger(__name__)


def studio_in(state: Any) -> Studio:
    """The studio a request works with, from the server's lifespan state (the slot, opened
    before the handler runs): the studio itself, or (hosted) the one its authenticated user
    owns (``studio_for_request``)."""
    if isinstance(state, StudioSlot):
        state = state.studio
    choose = getattr(state, "studio_for_request", None)
    return cast("Studio", choose() if choose is not None else state)


def studio_of(ctx: Context) -> Studio:
    """The studio a request works with (the server opened it before calling the handler)."""
    return studio_in(ctx.request_context.lifespan_context)


class ProgressRelay:
    """Turn studio progress notes into MCP progress notifications that always increase."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._last = 0.0

    async def __call__(self, note: Progress) -> None:
        value = round(self._last + 0.01, 2)  # still above the last; no 55.019999999999996
        total = None
        if note.progress is not None and note.total and note.progress > self._last:
            value, total = float(note.progress), float(note.total)
        self._last = value
        try:
            await self._ctx.report_progress(value, total, note.message)
        except Exception:  # a client that went away must not break the job
            log.debug("progress notification failed", exc_info=True)
