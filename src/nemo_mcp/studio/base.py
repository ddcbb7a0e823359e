"""The studio's shared part: what every operation uses (see ``nemo_mcp.studio.facade``)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Literal

import anyio

from nemo_mcp import constants
from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.errors import NemoError
from nemo_mcp.faces import Face
from nemo_mcp.manifest import SkillManifest, load_manifest
from nemo_mcp.store.base import StateStore
from nemo_mcp.studio.jobs import JobFeed, JobRunner
from nemo_mcp.studio.next_steps import Step, phrase
from nemo_mcp.studio.turns import TurnLimits
from nemo_mcp.studio.views import CreditsNote

log = logging.getLogger(__name__)


def detect_language(text: str | None) -> str:
    """The session language from the user's own words; else the locale; else English."""
    if text:
        if re.search(r"[\u3040-\u30ff]", text):
            return "ja"
        if re.search(r"[\uac00-\ud7af]", text):
            return "ko"
        if re.search(r"[\u4e00-\u9fff]", text):
            return "zh-CN"
    lang = (os.environ.get("LANG") or "").split(".")[0].replace("_", "-")
    if lang and lang not in ("C", "POSIX") and len(lang) <= 8:
        return lang.split("-")[0] if lang.startswith("en") else lang
    return "en"


class StudioBase:
    """What every operation shares: the settings, the API client, the store, the job runner,
    the face the studio answers for, and change listeners."""

    def __init__(
        self,
        settings: Settings,
        client: NemoClient,
        store: StateStore,
        runner: JobRunner,
        *,
        face: Face = "mcp",
        poll_interval: float = constants.RENDER_POLL_INTERVAL,
        turn_limits: TurnLimits | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.runner = runner
        self.face = face
        self.poll_interval = poll_interval
        self.turn_limits = turn_limits
        self.manifest: SkillManifest = load_manifest(settings.skill)
        self._change_listeners: list[Callable[[str], Awaitable[None]]] = []
        self._last_balance: float | None = None  # the latest balance this studio read
        self.job_feed: JobFeed | None = None  # progress of jobs other processes run (hosted)

    def on_change(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call ``listener(session_id)`` whenever a session's timeline or renders change."""
        self._change_listeners.append(listener)

    async def _changed(self, session_id: str) -> None:
        for fn in list(self._change_listeners):
            try:
                await fn(session_id)
            except Exception:
                log.debug("change listener failed", exc_info=True)

    def _say(self, step: Step) -> str:
        """A step named in this face's words (for hints inside errors)."""
        return phrase(step, self.face)

    def _budget(self, wait: float | None) -> float | None:
        if wait is None:
            return self.settings.wait_budget
        if wait < 0:
            return None  # wait until done (the CLI's default)
        return min(wait, constants.MAX_WAIT_BUDGET)

    async def _balance(self) -> float | None:
        """The available credits, or None when they cannot be read (never an error here)."""
        try:
            with anyio.fail_after(constants.CREDITS_NOTE_TIMEOUT):
                self._last_balance = (await self.client.get_credits()).available
        except (NemoError, TimeoutError):
            log.info("the credit balance could not be read for a note")
            return None
        return self._last_balance

    def _note(
        self,
        session_id: str,
        available: float,
        next_request: Literal["generation", "edit"],
        *,
        spent: float | None = None,
    ) -> CreditsNote:
        """A balance as results carry it, with this session's account's registration link."""
        return CreditsNote(
            available=available,
            spent=spent,
            next_request=next_request,
            registration_url=self.settings.registration_url(self._user_id(session_id)),
        )

    def _user_id(self, session_id: str) -> str | None:
        rec = self.store.get_session(session_id)
        if rec is not None and rec.user_id:
            return rec.user_id
        cred = self.store.load_credential(self.settings.api_url)
        return cred.user_id if cred is not None else None
