"""The account: the credit balance, and the short note a result carries about what was spent and
what the next request likely costs (estimates; NemoVideo prices by what its agent ends up doing).
"""

from __future__ import annotations

import logging
from typing import Literal

import anyio
import anyio.lowlevel

from nemo_mcp import constants
from nemo_mcp.errors import NemoError
from nemo_mcp.studio.sessions import Sessions
from nemo_mcp.studio.views import (
    CreditsNote,
    CreditsView,
)
from nemo_mcp.timeline.model import Timeline

log = logging.getLogger(__name__)


class Account(Sessions):
    """Credits: the balance, and the notes results carry about it."""

    async def _balance(self) -> float | None:
        """The available credits, or None when they cannot be read (never an error here)."""
        try:
            with anyio.fail_after(constants.CREDITS_NOTE_TIMEOUT):
                self._last_balance = (await self.client.get_credits()).available
        except (NemoError, TimeoutError):
            log.info("the credit balance could not be read for a note")
            return None
        return self._last_balance

    def _next_request(self, session_id: str) -> Literal["generation", "edit"]:
        """What the session's next message likely is: an edit once there is a timeline."""
        cached = self.cached_state(session_id)
        ready = cached is not None and Timeline.from_state(cached).is_export_ready
        return "edit" if ready else "generation"

    async def _credits_note(
        self,
        session_id: str,
        next_request: Literal["generation", "edit"],
        *,
        spent_from: float | None = None,
    ) -> CreditsNote | None:
        """The balance now (and what was spent since ``spent_from``), or None if unreadable."""
        available = await self._balance()
        if available is None:
            return None
        spent = max(0.0, spent_from - available) if spent_from is not None else None
        return CreditsNote(
            available=available,
            spent=spent,
            next_request=next_request,
            registration_url=self.settings.registration_url(self._user_id(session_id)),
        )

    async def credits(self) -> CreditsView:
        c = await self.client.get_credits()
        ident = await self.client.identity()
        reg = self.settings.registration_url(ident.user_id)
        account: Literal["anonymous", "registered", "unknown"] = (
            "anonymous"
            if reg
            else ("registered" if ident.source in ("env", "login") else "unknown")
        )
        self._last_balance = c.available
        current = self.store.current_session(self.settings.api_url)
        cached = self.cached_state(current.session_id) if current is not None else None
        return CreditsView(
            available=c.available,
            frozen=c.frozen,
            total=c.total,
            account=account,
            registration_url=reg,
            export_ready=Timeline.from_state(cached).is_export_ready if cached else None,
        )
