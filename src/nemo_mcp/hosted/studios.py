"""One studio per user in a hosted worker, opened on the user's first request and kept while the
worker runs, each over that user's view of the shared store; and the sweep that resumes renders
whose worker died or shut down (the one cross-user read).

A request's studio is chosen by its authenticated owner (``studio_for_request``, from the SDK's
auth context), so a tool can never reach another user's studio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from mcp.server.auth.middleware.auth_context import get_access_token

from nemo_mcp.config import Settings
from nemo_mcp.errors import AuthError, NemoError
from nemo_mcp.hosted.options import HostedOptions
from nemo_mcp.store.base import StateStore
from nemo_mcp.studio.facade import Studio
from nemo_mcp.studio.leases import gone_local_process

if TYPE_CHECKING:
    from nemo_mcp.studio.jobs import JobFeed
    from nemo_mcp.studio.turns import TurnLimits

log = logging.getLogger(__name__)

Listener = Callable[[str], Awaitable[None]]
_announcing: ContextVar[str | None] = ContextVar("nemo_mcp_announcing", default=None)


class HostedStudios:
    """The worker's studios, by owner. Open with ``HostedStudios.open(settings, options)``."""

    def __init__(
        self, settings: Settings, options: HostedOptions, store: StateStore, tg: TaskGroup
    ) -> None:
        self.settings = settings
        self.options = options
        self.database = store  # the shared database (its own rows are nobody's)
        self._tg = tg
        self._studios: dict[str, Studio] = {}
        self._opening: dict[str, anyio.Event] = {}
        self._listeners: list[Listener] = []
        self._closing: dict[str, anyio.Event] = {}  # set: that user's studio closes
        self._used: dict[str, float] = {}  # when each user last made a request (monotonic)
        self._stopping = False
        self.turn_limits: TurnLimits | None = None
        self.job_feed: JobFeed | None = None  # progress from other workers (Redis), if any

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        options: HostedOptions,
        store: StateStore,
        background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> AsyncIterator[HostedStudios]:
        """The worker's studios; ``background`` tasks run beside the sweep until shutdown."""
        async with anyio.create_task_group() as tg:
            studios = cls(settings, options, store, tg)
            sweep = anyio.CancelScope()

            async def sweeping() -> None:
                with sweep:
                    async with anyio.create_task_group() as inner:
                        for task in background:
                            inner.start_soon(task)
                        await studios._sweep()

            tg.start_soon(sweeping)
            try:
                yield studios
            finally:
                sweep.cancel()
                studios._stopping = True
                for closing in list(studios._closing.values()):
                    closing.set()  # every studio closes and hands its leases back

    # --- the MCP server's view --------------------------------------------------------------
    @property
    def store(self) -> StateStore:
        """The store of the user whose change is being announced (``on_change``), else the
        shared database (whose own rows are nobody's)."""
        owner = _announcing.get()
        return self.database.for_owner(owner) if owner is not None else self.database

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)
        for owner, studio in self._studios.items():
            studio.on_change(self._as_owner(owner, listener))

    @staticmethod
    def _as_owner(owner: str, listener: Listener) -> Listener:
        """``listener``, run as ``owner`` (what it reads through ``store`` is theirs)."""

        async def announce(session_id: str) -> None:
            token = _announcing.set(owner)
            try:
                await listener(session_id)
            finally:
                _announcing.reset(token)

        return announce

    def studio_for_request(self) -> Studio:
        """The authenticated owner's studio (opened when the request's token was checked)."""
        token = get_access_token()
        if token is None:
            raise AuthError(
                "This request is not signed in.",
                hint="Send Authorization: Bearer <token> with every request.",
                status=401,
            )
        studio = self._studios.get(token.client_id)
        if studio is None:  # an identity provider's user who has not linked NemoVideo yet
            link = self.options.public_url.rsplit("/", 1)[0] + "/link"
            raise AuthError(
                "Your account is not linked to a NemoVideo account yet.",
                hint=f'Link it once: POST {{"nemovideo_token": "<your NemoVideo API token>"}} to '
                f"{link} with your access token as the bearer.",
                status=403,
            )
        return studio

    def has(self, owner: str) -> bool:
        return owner in self._studios

    # --- opening ----------------------------------------------------------------------------
    async def ensure(self, owner: str, nemo_token: str) -> Studio:
        """The owner's studio, opened on first use with their NemoVideo token."""
        self._used[owner] = time.monotonic()
        while owner not in self._studios:
            event = self._opening.get(owner)
            if event is None:
                event = self._opening[owner] = anyio.Event()
                failed: list[BaseException] = []
                self._tg.start_soon(self._run_studio, owner, nemo_token, event, failed)
                await event.wait()
                self._opening.pop(owner, None)
                if failed:
                    raise failed[0]
            else:
                await event.wait()
        return self._studios[owner]

    def _user_settings(self, nemo_token: str) -> Settings:
        return self.settings.with_(
            token=nemo_token,
            hosted=True,
            allowed_dirs=(),
            allowed_dirs_problem="A hosted nemo-mcp reads no files from its own disk.",
        )

    async def _run_studio(
        self, owner: str, token: str, ready: anyio.Event, failed: list[BaseException]
    ) -> None:
        try:
            async with Studio.open(
                self._user_settings(token),
                face="mcp",
                store=self.database.for_owner(owner),
                resume=False,  # the sweep resumes what is orphaned, for every user
                poll_interval=self.options.poll_interval,
                turn_limits=self.turn_limits,
            ) as studio:
                for listener in self._listeners:
                    studio.on_change(self._as_owner(owner, listener))
                studio.job_feed = self.job_feed
                closing = self._closing[owner] = anyio.Event()
                if self._stopping:  # opened while the worker shuts down: close at once
                    closing.set()
                self._studios[owner] = studio
                ready.set()
                try:
                    await closing.wait()
                finally:
                    if self._studios.get(owner) is studio:  # not a newer one for this user
                        del self._studios[owner]
        except Exception as err:
            log.warning("a user's studio failed to open: %s", type(err).__name__)
            failed.append(err)
        finally:
            ready.set()

    # --- resuming other workers' renders ------------------------------------------------------
    async def _sweep(self) -> None:
        """Every ``sweep_seconds``: take over the renders nobody polls (their worker died, or
        shut down and handed them back) and finish them in their owner's studio."""
        while True:
            await anyio.sleep(self.options.sweep_seconds)
            try:
                await self.sweep_once()
            except Exception:  # a database hiccup: the next round retries
                log.warning("the render sweep failed", exc_info=True)
            self.close_idle()

    def close(self, owner: str) -> None:
        """Close the user's studio now (their token changed): the next request opens one with
        the new token. Jobs it runs are handed on through their leases."""
        if self._studios.pop(owner, None) is not None:
            self._closing[owner].set()

    def close_idle(self, now: float | None = None) -> list[str]:
        """Close the studios of users idle for ``idle_seconds`` with nothing running (their
        next request opens one again); returns their owners."""
        now = time.monotonic() if now is None else now
        closed = []
        for owner, studio in list(self._studios.items()):
            idle = now - self._used.get(owner, now) > self.options.idle_seconds
            busy = studio.runner.active("render") or studio.runner.active("turn")
            if idle and not busy:
                self._studios.pop(owner, None)  # the next request opens a fresh one
                self._closing[owner].set()
                closed.append(owner)
        if closed:
            log.info("closed %d idle studio(s)", len(closed))
        return closed

    async def sweep_once(self) -> list[str]:
        resumed: list[str] = []
        # "completed" is finished here: a hosted render's result is its URL, not a download
        active = ("submitting", "pending", "processing")
        for owner, render_id in self.database.orphaned_renders(
            gone=gone_local_process, statuses=active
        ):
            view = self.database.for_owner(owner)
            cred = view.load_credential(self.settings.api_url)
            if cred is None:
                continue  # no token to poll with (the user never finished signing in)
            try:
                studio = await self.ensure(owner, cred.token)
                rec = view.get_render(render_id)
                if rec is None or studio._render_done(rec):
                    continue
                job = studio.runner.get(render_id)
                if job is None or job.done.is_set():
                    await studio.render_status(render_id, wait=0)
                    resumed.append(render_id)
            except NemoError as err:
                log.warning("could not resume a render: %s", err.kind)
        if resumed:
            log.info("resumed %d render(s) another worker left", len(resumed))
        return resumed


def studio_factory_for(
    studios: HostedStudios,
) -> Callable[[Settings], Any]:
    """A ``studio_factory`` for ``build_server`` that yields the worker's studios."""

    @asynccontextmanager
    async def factory(_settings: Settings) -> AsyncIterator[Any]:
        yield studios

    return factory
