"""One export as a job: submit the draft once (a lost answer is looked up by the render id, never
resubmitted), poll until the render ends, retry a failed render once under a new id, then
download the MP4 and check it. Every step is recorded in the store first, so a restarted process
resumes polling and download.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from nemo_mcp import constants
from nemo_mcp.errors import (
    AmbiguousSubmitError,
    DownloadError,
    NemoError,
    RenderFailedError,
    RenderNotFoundError,
)
from nemo_mcp.files.outputs import choose_output_path, safe_filename
from nemo_mcp.media.probe import mp4_problem
from nemo_mcp.store.records import RenderRecord
from nemo_mcp.studio.account import Account
from nemo_mcp.studio.jobs import Job
from nemo_mcp.studio.leases import RenderLeases
from nemo_mcp.studio.next_steps import Step
from nemo_mcp.studio.views import Progress

log = logging.getLogger(__name__)


def new_render_id() -> str:
    """Render ids are chosen here, so the record exists before the submit is sent."""
    return f"render_{int(time.time() * 1000)}_{secrets.token_hex(3)}"


def _download_failure(err: BaseException) -> DownloadError:
    """An unexpected error while saving a download, as an actionable one."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
    return DownloadError(
        f"The video could not be saved ({reason}).",
        hint="Check the output folder (NEMO_MCP_OUTPUT_DIR: it must exist or be creatable, with "
        "free space), then wait for the export again, or export with another filename.",
    )


class RenderJob(RenderLeases, Account):
    """The render job: submit once, poll, retry a failed render once, download, check."""

    async def _render_job(
        self,
        job: Job[Any],
        render_id: str,
        draft: Any,
        filename: str | None,
        overwrite: bool,
    ) -> str:
        rec = self.store.get_render(render_id)
        assert rec is not None
        sid = rec.session_id
        filename = filename or rec.filename  # a resumed render keeps the name asked for
        current_id = render_id
        status = rec.status
        if status == "submitting":
            if draft is None:
                # resumed after a restart: did the submit reach the server?
                try:
                    status = (await self.client.get_render(render_id)).status
                except RenderNotFoundError:
                    self._update_render(
                        render_id,
                        status="failed",
                        error="The export request never reached NemoVideo; export again.",
                    )
                    raise RenderFailedError(
                        "The export request never reached NemoVideo.",
                        hint=f"Export again ({self._say(Step('export'))}).",
                    ) from None
            else:
                await job.report(Progress(message="submitting the render", progress=0, total=100))
                st = await self._submit(render_id, sid, draft)
                status = st.status
                self._update_render(render_id, status=status, progress=st.progress)
                await self._changed(sid)
        retried = False
        url: str | None = rec.url
        if status != "completed" or not url:
            while True:
                final = await self._poll_render(job, current_id)
                if final.status == "completed":
                    url = final.url
                    break
                if final.status == "cancelled":
                    self._update_render(current_id, status="cancelled")
                    await self._changed(sid)
                    raise RenderFailedError(
                        f"Render {current_id} was cancelled.", hint="Export again when ready."
                    )
                # failed: the contract says "new id, retry once"
                reason = final.error or "no reason given"
                if retried or draft is None:
                    self._update_render(current_id, status="failed", error=reason)
                    await self._changed(sid)
                    raise RenderFailedError(f"The render failed: {reason}.")
                retried = True
                new_id = new_render_id()
                self._record_render(
                    new_id, sid, digest=rec.draft_digest, filename=filename, attempt=2
                )
                self._update_render(
                    current_id,
                    status="failed",
                    error=f"{reason}; retried as {new_id}",
                    replaced_by=new_id,
                )
                self.runner.alias(new_id, job)
                await job.report(Progress(message=f"render failed ({reason}); retrying once"))
                st = await self._submit(new_id, sid, draft)
                current_id = new_id
                self._update_render(current_id, status=st.status, progress=st.progress)
        if not url:
            raise DownloadError(f"Render {current_id} completed without a download URL.")
        self._update_render(current_id, status="completed", url=url, progress=100.0)
        if self.settings.hosted:  # nothing on the server's disk: the result is the video URL
            await self._changed(sid)
            return current_id
        await self._download(job, current_id, url, filename, overwrite)
        await self._changed(sid)
        return current_id

    def _record_render(
        self,
        render_id: str,
        session_id: str,
        *,
        digest: str | None,
        filename: str | None,
        attempt: int = 1,
        reuse: bool = False,
    ) -> RenderRecord:
        """Record the render, leased to this process, before anything is sent; with ``reuse``,
        the same timeline's render not failed or cancelled (another call's, another
        process's) is returned instead, in the same atomic step."""
        self._lease_state()
        rec = self.store.start_render(
            RenderRecord(
                render_id=render_id,
                session_id=session_id,
                api_url=self.settings.api_url,
                status="submitting",
                progress=0.0,
                attempt=attempt,
                draft_digest=digest,
                filename=filename,
            ),
            worker=self.worker_id,
            lease_seconds=constants.RENDER_LEASE_SECONDS,
            reuse=reuse,
        )
        if rec.render_id == render_id:
            self._held.add(render_id)
        return rec

    async def _submit(self, render_id: str, session_id: str, draft: Any) -> Any:
        """Submit once. When the answer is lost, look the id up instead of resubmitting.

        The submit is shielded from cancellation (up to ``SUBMIT_SHIELD_SECONDS``): a cancel
        arriving meanwhile (the caller gave up, ``nemo_cancel_render``) takes effect once
        NemoVideo has answered, so the remote cancel that follows finds the render instead of
        racing its submit and leaving it orphaned.
        """
        answer: Any = None
        with anyio.CancelScope(shield=True), anyio.move_on_after(constants.SUBMIT_SHIELD_SECONDS):
            answer = await self._submit_once(render_id, session_id, draft)
        if answer is None:  # no answer in time: the request was cut off after it was sent
            answer = await self._find_lost_submit(render_id)
        await anyio.lowlevel.checkpoint()  # a cancel that came meanwhile takes effect here
        return answer

    async def _submit_once(self, render_id: str, session_id: str, draft: Any) -> Any:
        try:
            return await self.client.submit_render(render_id, session_id, draft)
        except AmbiguousSubmitError:
            return await self._find_lost_submit(render_id)
        except NemoError as err:
            # refused (402, 1002, 4xx...): nothing is rendering, and a later export must not be
            # answered with this dead render
            self._update_render(render_id, status="failed", error=err.message)
            raise

    async def _find_lost_submit(self, render_id: str) -> Any:
        try:
            return await self.client.get_render(render_id)
        except RenderNotFoundError:
            self._update_render(render_id, status="failed", error="the submit was lost")
            raise RenderFailedError(
                "The export request was lost on the way to NemoVideo; nothing is rendering.",
                hint=f"Export again ({self._say(Step('export'))}).",
            ) from None

    async def _poll_render(self, job: Job[Any], render_id: str) -> Any:
        errors_in_a_row = 0
        n = 0
        started = time.monotonic()
        while True:
            try:
                st = await self.client.get_render(render_id)
                errors_in_a_row = 0
            except NemoError as err:
                # a render the backend just accepted may not be visible to every replica yet
                transient = err.retryable or isinstance(err, RenderNotFoundError)
                if not transient or errors_in_a_row >= constants.RENDER_POLL_ERRORS_TOLERATED:
                    raise
                errors_in_a_row += 1
                await job.report(Progress(message=f"polling issue ({err.kind}); retrying"))
                st = None
            if st is not None:
                # the URL with the status: a "completed" record always has its video URL
                self._update_render(render_id, status=st.status, progress=st.progress, url=st.url)
                if st.status in ("completed", "failed", "cancelled"):
                    return st
                pct = st.progress
                await job.report(
                    Progress(
                        message=f"rendering: {st.status}" + (f" {pct:.0f}%" if pct else ""),
                        progress=pct,
                        total=100,
                    )
                )
            if time.monotonic() - started > constants.RENDER_MAX_SECONDS:
                raise RenderFailedError(
                    f"Render {render_id} did not finish in {constants.RENDER_MAX_SECONDS / 60:.0f}"
                    " minutes.",
                    hint="It may still finish: later, "
                    f"{self._say(Step('wait', job_id=render_id))}.",
                )
            # quick first polls, then the steady interval
            delay = min(self.poll_interval, 0.5 * 2**n)
            n += 1
            await anyio.sleep(max(constants.RENDER_POLL_MIN_INTERVAL, delay))

    async def _download(
        self, job: Job[Any], render_id: str, url: str, filename: str | None, overwrite: bool
    ) -> None:
        try:
            await self._download_once(job, render_id, url, filename, overwrite)
        except Exception as err:
            # whatever stopped it, the job fails with an actionable error (never "downloads by
            # itself" forever); the render stays "completed", so a wait downloads it afresh
            failure = err if isinstance(err, NemoError) else _download_failure(err)
            self._update_render(
                render_id, error=f"The render finished but the download failed: {failure.message}"
            )
            if failure is err:
                raise
            raise failure from err

    async def _download_once(
        self, job: Job[Any], render_id: str, url: str, filename: str | None, overwrite: bool
    ) -> None:
        name = filename or safe_filename(f"nemovideo-{render_id}")
        dest = choose_output_path(self.settings.output_dir, name, overwrite=overwrite)

        last = [-1.0, 0.0]  # percent and time of the last note: at most one per 5% or second

        async def relay(done: int, total: int) -> None:
            pct = 100.0 * done / total if total else None
            now = time.monotonic()
            if pct is not None and pct < 100 and pct - last[0] < 5 and now - last[1] < 1:
                return
            if pct is None and now - last[1] < 1:
                return
            last[:] = [pct if pct is not None else last[0], now]
            mb = done / 1_048_576
            msg = f"downloading {pct:.0f}%" if pct is not None else f"downloading {mb:.1f} MB"
            await job.report(Progress(message=msg, progress=pct, total=100))

        result = await self.client.download(url, dest, overwrite=overwrite, on_progress=relay)
        path = Path(result.path)
        problem = mp4_problem(path)
        if problem:
            path.unlink(missing_ok=True)
            raise DownloadError(f"The downloaded file failed its check: {problem}.")
        self._update_render(render_id, status="downloaded", output_path=str(path), error=None)

    def _update_render(self, render_id: str, **fields: Any) -> None:
        fields = {k: v for k, v in fields.items() if v is not None or k == "error"}
        fields["updated_at"] = time.time()
        self.store.update_render(render_id, **fields)
