"""The account: who NemoVideo sees (``whoami``), a token from the user's own account
(``login`` / ``logout``), the credit balance, and the short note a result carries about what was
spent and what the next request likely costs (estimates; NemoVideo prices by what its agent ends
up doing).
"""

from __future__ import annotations

import logging
from typing import Literal

from nemo_mcp.api.client import NemoClient
from nemo_mcp.api.records import Identity
from nemo_mcp.errors import InvalidInputError
from nemo_mcp.redact import register_secret
from nemo_mcp.store.records import Credential
from nemo_mcp.studio.sessions import Sessions
from nemo_mcp.studio.views import CreditsNote, CreditsView
from nemo_mcp.timeline.model import Timeline

log = logging.getLogger(__name__)


class Account(Sessions):
    """The account: its token and its credits."""

    def whoami(self) -> Identity:
        """Who NemoVideo sees: the token's source, user id, expiry, client id (no network)."""
        return self.client.tokens.identity()

    async def login(self, token: str, *, verify: bool = True) -> float | None:
        """Keep a token from the user's NemoVideo account: it is then used instead of anonymous
        ones (``NEMO_TOKEN`` still wins). With ``verify`` it is kept only once NemoVideo has
        accepted it, and the balance NemoVideo showed is returned; None when not verified."""
        token = token.strip()
        register_secret(token)
        if not token or any(c.isspace() for c in token):
            raise InvalidInputError(
                "That does not look like a NemoVideo token (empty, or contains spaces).",
                hint="Copy it from nemovideo.com -> Settings -> API Tokens and try again.",
            )
        credits: float | None = None
        if verify:
            async with NemoClient(self.settings.with_(token=token), store=self.store) as probe:
                credits = float((await probe.get_credits()).available)
        self.store.save_credential(self.settings.api_url, Credential(token=token, source="login"))
        return credits

    def logout(self) -> bool:
        """Forget the stored token for this API URL (``NEMO_TOKEN`` is not ours to forget)."""
        return self.store.clear_credential(self.settings.api_url)

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
        return self._note(session_id, available, next_request, spent=spent)

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
