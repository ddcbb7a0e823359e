"""Exports: rendering the timeline (free), an unchanged timeline never rendered twice, the status of
a render (resumed when nobody polls it), cancelling it (on NemoVideo too), and the view of it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from nemo_mcp import constants
from nemo_mcp.errors import (
    InvalidInputError,
    NemoError,
    RenderFailedError,
)
from nemo_mcp.files.outputs import safe_filename
from nemo_mcp.media.probe import probe as probe_media
from nemo_mcp.store.schema import RENDER_FINISHED
from nemo_mcp.studio.jobs import Job, ProgressFn
from nemo_mcp.studio.next_steps import Step
from nemo_mcp.studio.render_job import RenderJob, new_render_id
from nemo_mcp.studio.views import (
    Progress,
    RenderView,
)
from nemo_mcp.timeline.model import Timeline

log = logging.getLogger(__name__)


class Renders(RenderJob):
    """Exports: start one (or find the same timeline's), its status, cancelling it."""

    async def export(
        self,
        *,
        session_id: str | None = None,
        wait: float | None = None,
        on_progress: ProgressFn | None = None,
        filename: str | None = None,
        overwrite: bool = False,
        force: bool = False,
    ) -> RenderView:
        """Render the session's timeline, wait, download the MP4 and check it."""
        rec = await self._session(session_id, create=False, purpose="export")
        raw = await self._read_state(rec)
        tl = Timeline.from_state(raw)
        if not tl.can_export:
            raise InvalidInputError(
                "Nothing to export yet: the timeline has no clips.",
                hint="Ask the agent to make something first "
                f"({self._say(Step('chat', message='<what to make>'))}), then export.",
            )
        digest = tl.draft_fingerprint
        draft = tl.draft  # exactly as received: a JSON object, or a Draft V3 string
        if not force:
            for prior in self.store.list_renders(rec.session_id):
                if prior.draft_digest == digest and prior.status not in ("failed", "cancelled"):
                    if filename and prior.status != "downloaded":
                        # not downloaded yet (or its download failed): it lands under the new name
                        self.store.update_render(prior.render_id, filename=safe_filename(filename))
                    view = await self.render_status(
                        prior.render_id, wait=wait, on_progress=on_progress
                    )
                    return view.model_copy(update={"reused": True})
        render_id = new_render_id()
        name = safe_filename(filename or f"nemovideo-{rec.session_id[-8:]}-{render_id[-6:]}")
        # recorded before the submit is sent: nothing can be orphaned; and at most one render
        # of this timeline across processes (unless forced)
        started = self._record_render(
            render_id, rec.session_id, digest=digest, filename=name, reuse=not force
        )
        if started.render_id != render_id:  # another call or worker got there first
            view = await self.render_status(started.render_id, wait=wait, on_progress=on_progress)
            return view.model_copy(update={"reused": True})
        job = self._start_render_job(render_id, draft=draft, filename=name, overwrite=overwrite)
        try:
            await self.runner.wait(job, self._budget(wait), on_progress, self._describe_render)
        except anyio.get_cancelled_exc_class():
            # The caller gave up on the export it started: cancel the render remotely too.
            with anyio.CancelScope(shield=True):
                await self._cancel(render_id, reason="the export call was cancelled")
            raise
        view = self._render_view(render_id)
        if view.status == "failed":  # the export did not produce a video: an error, not a result
            if isinstance(job.error, RenderFailedError):
                raise job.error
            raise RenderFailedError(
                f"The export failed: {view.error or 'no reason given'}.",
                details={"render_id": view.render_id},
            )
        return view

    def _start_render_job(
        self,
        render_id: str,
        *,
        draft: Any,  # as received (a JSON object or a Draft V3 string); None: resume
        filename: str | None,
        overwrite: bool = False,
    ) -> Job[Any]:
        async def body(job: Job[Any]) -> str:
            async def run() -> str:
                return await self._render_job(job, render_id, draft, filename, overwrite)

            return await self._leased(job, render_id, run)

        return self.runner.start(render_id, "render", body)

    @staticmethod
    def _describe_render(job: Job[Any]) -> Progress:
        if job.last is not None:
            return Progress(
                message=f"{job.last.message} ({job.elapsed:.0f} s)",
                progress=job.last.progress,
                total=job.last.total,
            )
        return Progress(message=f"rendering ({job.elapsed:.0f} s)")

    def resume_renders(self) -> list[str]:
        """Restart jobs for renders a previous process left unfinished (polling and download)."""
        resumed = []
        for rec in self.store.list_renders(unfinished_only=True):
            if rec.api_url != self.settings.api_url or self.runner.get(rec.render_id):
                continue
            self._start_render_job(rec.render_id, draft=None, filename=None)
            resumed.append(rec.render_id)
        return resumed

    async def render_status(
        self, render_id: str, *, wait: float | None = 0, on_progress: ProgressFn | None = None
    ) -> RenderView:
        render_id = self._resolve_alias(render_id)
        rec = self.store.get_render(render_id)
        if rec is None:
            raise InvalidInputError(
                f"No render {render_id!r} is known here.",
                hint="Use a render id that an earlier export returned.",
            )
        job = self.runner.get(render_id)
        if not self._render_done(rec) and (job is None or job.done.is_set()):
            # not polled by anyone (a restart, or a poll or download that gave up): resume
            job = self._start_render_job(render_id, draft=None, filename=None)
        if job is not None and not job.done.is_set():
            await self.runner.wait(job, self._budget(wait), on_progress, self._describe_render)
        return self._render_view(render_id)

    async def cancel_render(self, render_id: str) -> RenderView:
        render_id = self._resolve_alias(render_id)
        if self.store.get_render(render_id) is None:
            raise InvalidInputError(f"No render {render_id!r} is known here.")
        await self._cancel(render_id, reason="cancelled on request")
        return self._render_view(render_id)

    async def _cancel(self, render_id: str, *, reason: str) -> None:
        job = self.runner.get(render_id)
        if job is not None and job.cancel_scope is not None:
            job.cancel_scope.cancel()
            # a submit in flight finishes first (see _submit): then the render id is known
            with anyio.move_on_after(constants.SUBMIT_SHIELD_SECONDS):
                await job.done.wait()
        rec = self.store.get_render(render_id)
        if rec is None or rec.status in RENDER_FINISHED or rec.status == "completed":
            return
        try:
            await self.client.cancel_render(render_id)
        except NemoError as err:
            log.warning("remote cancel of a render failed: %s", err.kind)
        self._update_render(render_id, status="cancelled", error=reason)
        await self._changed(rec.session_id)

    def _resolve_alias(self, render_id: str) -> str:
        """Follow a failed render to its one retry (``replaced_by``), as stored."""
        seen = {render_id}
        rec = self.store.get_render(render_id)
        while rec is not None and rec.replaced_by and rec.replaced_by not in seen:
            render_id = rec.replaced_by
            seen.add(render_id)
            rec = self.store.get_render(render_id)
        return render_id

    def _render_view(self, render_id: str) -> RenderView:
        render_id = self._resolve_alias(render_id)
        rec = self.store.get_render(render_id)
        assert rec is not None
        job = self.runner.get(render_id)
        if job is not None and job.done.is_set() and isinstance(job.error, NemoError):
            err = job.error
            # A failed or cancelled render is a status to show; anything else that stopped the
            # job (a download that failed its check, polling that gave up) is the answer.
            if not isinstance(err, RenderFailedError) or rec.status not in RENDER_FINISHED:
                raise err
        status = rec.status
        done = self._render_done(rec)
        probe = probe_media(Path(rec.output_path)) if rec.output_path and done else None
        size = (
            Path(rec.output_path).stat().st_size
            if rec.output_path and Path(rec.output_path).exists()
            else None
        )
        elapsed = job.elapsed if job is not None else rec.updated_at - rec.created_at
        view = RenderView(
            render_id=render_id,
            session_id=rec.session_id,
            status=status,  # type: ignore[arg-type]
            done=done,
            progress=rec.progress,
            url=rec.url,
            file=rec.output_path,
            size_bytes=size,
            duration_s=round(probe.duration, 2) if probe and probe.duration else None,
            width=probe.width if probe else None,
            height=probe.height if probe else None,
            error=rec.error,
            elapsed_s=round(max(0.0, elapsed), 1),
        )
        if status == "downloaded" and self._last_balance is not None:
            # exporting is free; what is left matters for the changes that may follow
            view.credits = self._note(rec.session_id, self._last_balance, "edit")
        return view
