"""The studio: the operations users think in, shared by the MCP server, the CLI and library users.

    async with Studio.open() as studio:
        await studio.upload(["song.mp3"])
        turn = await studio.chat("generate a music video clip synced to my song")
        view = await studio.export()          # waits, downloads, checks the MP4

Chat turns and renders are jobs owned by the studio (see ``jobs.py``): a call waits for them up
to a budget and otherwise returns a handle while the job goes on. Render records are written to
the store *before* the submit is sent, so a restarted process resumes polling and download.
A chat message is sent once and never again (a resent message is charged twice).

One module per operation, each a part of ``Studio``: ``sessions`` (and the timeline),
``account``, ``uploads``, ``chat`` (with ``turns`` and ``settle``), ``renders`` (with
``render_job``); ``base`` holds what they share.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import httpx

from nemo_mcp import constants
from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.errors import InvalidInputError
from nemo_mcp.faces import Face
from nemo_mcp.store import open_store
from nemo_mcp.store.base import StateStore
from nemo_mcp.store.schema import RENDER_FINISHED
from nemo_mcp.studio.chat import Chat, live_turn
from nemo_mcp.studio.jobs import JobRunner
from nemo_mcp.studio.next_steps import Step
from nemo_mcp.studio.renders import Renders
from nemo_mcp.studio.turns import TurnLimits
from nemo_mcp.studio.uploads import Uploads

log = logging.getLogger(__name__)


class Studio(Uploads, Chat, Renders):
    """The studio; open one with ``Studio.open(settings)``."""

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        face: Face = "mcp",
        transport: httpx.AsyncBaseTransport | None = None,
        resume: bool = True,
        poll_interval: float = constants.RENDER_POLL_INTERVAL,
        turn_limits: TurnLimits | None = None,
        store: StateStore | None = None,
    ) -> AsyncIterator[Studio]:
        """``store``: a store to use (a hosted user's view) instead of the settings' own."""
        settings = settings or Settings.from_env()
        store = store if store is not None else open_store(settings)
        async with (
            NemoClient(settings, store=store, transport=transport) as client,
            anyio.create_task_group() as tg,
        ):
            studio = cls(
                settings,
                client,
                store,
                JobRunner(tg),
                face=face,
                poll_interval=poll_interval,
                turn_limits=turn_limits,
            )
            tg.start_soon(studio.keep_turn_leases)
            tg.start_soon(studio.keep_render_leases)
            if resume:
                studio.resume_renders()
            try:
                yield studio
            finally:
                tg.cancel_scope.cancel()
                studio.release_render_leases()  # others resume at once, not a lease later

    def latest_job(self, session_id: str | None = None) -> str:
        """The session's latest job still running, else its latest job (a turn or a render)."""
        sid = session_id
        if sid is None:
            current = self.store.current_session(self.settings.api_url)
            sid = current.session_id if current is not None else None
        jobs: list[tuple[float, bool, str]] = []  # (started, running, id)
        if sid is not None:
            for turn in self.store.list_turns(sid):
                job = self.runner.get(turn.turn_id)
                running = not job.done.is_set() if job is not None else live_turn(turn)
                jobs.append((turn.created_at, running, turn.turn_id))
            for render in self.store.list_renders(sid):
                running = render.status not in RENDER_FINISHED
                jobs.append((render.created_at, running, render.render_id))
        if not jobs:
            raise InvalidInputError(
                "There is no chat or export to wait for in this session.",
                hint=f"Start one: {self._say(Step('chat', message='<what to make>'))}.",
            )
        live = [j for j in jobs if j[1]]
        return max(live or jobs)[2]
