"""Render leases: only the process holding a render's lease in the store polls and finishes it.

Any number of processes (embedded: several MCP servers and CLI runs on one SQLite file; hosted:
workers sharing PostgreSQL) may be asked about one render. The first to start its job takes the
lease (recorded with the render by ``start_render``, or taken by ``lease_render``) and renews it
(``keep_render_leases``); the others follow the stored record until it finishes. A holder that
dies stops renewing: its lease runs out and the next process to look takes the render over (at
once, when the dead holder was a process on this machine). A holder that shuts down hands its
leases back.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from nemo_mcp import constants
from nemo_mcp.errors import NemoError
from nemo_mcp.store.records import RenderRecord
from nemo_mcp.store.schema import RENDER_FINISHED
from nemo_mcp.studio.base import StudioBase
from nemo_mcp.studio.jobs import Job
from nemo_mcp.studio.views import Progress

log = logging.getLogger(__name__)

_HOST = socket.gethostname()


def new_worker_id() -> str:
    """``host:pid:nonce``: unique per process and studio, and tells whether the holder is a
    process of this machine that is gone."""
    return f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"


def gone_local_process(worker: str) -> bool:
    """True when ``worker`` was a process of this machine that no longer exists. Windows is
    not asked (``os.kill`` there terminates): its leases simply run out."""
    if os.name == "nt":
        return False
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but not ours to signal
        return False
    return False


class RenderLeases(StudioBase):
    """The lease part of the render job (see the module docstring)."""

    worker_id: str
    _held: set[str]

    def _lease_state(self) -> None:
        if not hasattr(self, "worker_id"):
            self.worker_id = new_worker_id()
            self._held = set()

    def _render_done(self, rec: RenderRecord) -> bool:
        """Nothing more to do for it: downloaded, failed or cancelled; in hosted mode, where
        nothing is downloaded, completed with its video URL."""
        if rec.status in RENDER_FINISHED:
            return True
        return self.settings.hosted and rec.status == "completed" and bool(rec.url)

    def _take_lease(self, render_id: str) -> bool:
        self._lease_state()
        store, lease = self.store, constants.RENDER_LEASE_SECONDS
        if store.lease_render(render_id, worker=self.worker_id, lease_seconds=lease):
            self._held.add(render_id)
            return True
        holder, _until = store.render_lease(render_id)
        if holder and gone_local_process(holder):
            taken = store.lease_render(
                render_id, worker=self.worker_id, lease_seconds=lease, steal_from=holder
            )
            if taken:
                log.info("took over a render whose polling process is gone")
                self._held.add(render_id)
            return taken
        return False

    def _give_back(self, render_id: str) -> None:
        self._lease_state()
        self._held.discard(render_id)
        try:
            self.store.release_render(render_id, worker=self.worker_id)
        except NemoError as err:  # it runs out by itself
            log.warning("could not hand a render lease back: %s", err.kind)

    async def _leased(
        self, job: Job[Any], render_id: str, run: Callable[[], Awaitable[str]]
    ) -> str:
        """Run the render job while holding the lease; without it, follow the record (and the
        holder's progress notes, when a ``job_feed`` carries them across processes)."""
        pause = max(constants.RENDER_POLL_MIN_INTERVAL, min(self.poll_interval, 2))
        while not self._take_lease(render_id):
            rec = self.store.get_render(render_id)
            if rec is None or self._render_done(rec):
                return render_id
            note = Progress(
                message=f"rendering (polled by another worker): {rec.status}",
                progress=rec.progress,
                total=100,
            )
            if self.job_feed is not None:  # the holder's own note, as soon as it says one
                note = await self.job_feed.next_note(render_id, pause) or note
            else:
                await anyio.sleep(pause)
            await job.report(note)
        feed = self.job_feed
        relay = None
        if feed is not None:  # followers elsewhere hear this job's notes

            async def relay(note: Progress) -> None:
                await feed.publish_note(render_id, note)

            job._listeners.add(relay)
        try:
            return await run()
        finally:
            if relay is not None:
                job._listeners.discard(relay)
            rec = self.store.get_render(render_id)
            self._give_back(render_id)
            while rec is not None and rec.replaced_by:  # its one retry, recorded by this job
                self._give_back(rec.replaced_by)
                rec = self.store.get_render(rec.replaced_by)

    async def keep_render_leases(self) -> None:
        """Renew, forever, the leases of the renders this studio is polling; a lease lost (this
        process stalled past it and another took over) stops the job here."""
        self._lease_state()
        lease = constants.RENDER_LEASE_SECONDS
        while True:
            await anyio.sleep(lease / 3)
            for render_id in list(self._held):
                try:
                    kept = self.store.lease_render(
                        render_id, worker=self.worker_id, lease_seconds=lease
                    )
                except NemoError as err:  # a busy or restarting database: the next round
                    log.warning("could not renew a render lease: %s", err.kind)
                    continue
                if kept or render_id not in self._held:
                    continue
                self._held.discard(render_id)
                rec = self.store.get_render(render_id)
                holder = self.store.render_lease(render_id)[0]
                job = self.runner.get(render_id)
                lost = rec is not None and not self._render_done(rec) and holder != self.worker_id
                if lost and job is not None and job.cancel_scope is not None:
                    log.warning("a render lease was lost; another worker polls it now")
                    job.cancel_scope.cancel()

    def release_render_leases(self) -> None:
        """Hand every lease back (a graceful shutdown): other workers resume at once."""
        self._lease_state()
        for render_id in list(self._held):
            self._give_back(render_id)
