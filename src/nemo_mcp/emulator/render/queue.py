"""The render queue: export jobs run in worker threads, so the server stays responsive.

A job waits ``render_pending_seconds`` as ``pending``, then renders as ``processing`` with its
real progress, and ends ``completed`` (file under ``renders/``), ``failed`` or ``cancelled``.
Jobs left unfinished by a shutdown go back to ``pending`` and are picked up again when an
emulator with the same ``data_dir`` starts.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from nemo_mcp.contract import renders
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.records import Render
from nemo_mcp.emulator.render.encode import RenderCancelled, RenderError, render_draft
from nemo_mcp.emulator.state import EmulatorState

log = logging.getLogger(__name__)

FAIL_PROGRESS: Final = 20
FAIL_AFTER: Final = 0.5  # seconds a doomed render shows "processing" before it fails
TICK: Final = 0.05
FORCED_FAILURE: Final = "Render failed: forced by the test"


class RenderQueue:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._closing = threading.Event()
        self._executor = ThreadPoolExecutor(
            max_workers=max(state.config.render_workers, 1), thread_name_prefix="emulator-render"
        )

    def resume(self) -> None:
        """Queue the jobs an earlier run left pending or processing."""
        with self.state.lock:
            unfinished = [
                r for r in self.state.renders.values() if r.status in ("pending", "processing")
            ]
        for render in unfinished:
            self.state.update_render(render, status="pending", progress=5)
            self.submit(render)

    def submit(self, render: Render) -> None:
        self._executor.submit(self._run, render)

    def close(self) -> None:
        self._closing.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def resolver(self, seg: dict[str, Any]) -> Path | None:
        mid = seg.get("mid")
        if not (isinstance(mid, str) and mid in self.state.media):
            mid = dr.media_id_of(seg.get("src") if isinstance(seg.get("src"), str) else None)
        return self.state.media_path(mid) if mid else None

    def _stopped(self, render: Render) -> bool:
        return render.cancel_requested or self._closing.is_set()

    def _wait(self, render: Render, seconds: float) -> bool:
        """Sleep, watching for cancel/shutdown/forced failure; False if the job must stop."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._stopped(render) or render.status in renders.TERMINAL:
                return False
            time.sleep(min(TICK, max(end - time.monotonic(), 0)))
        return not self._stopped(render)

    def _run(self, render: Render) -> None:
        cfg = self.state.config
        try:
            if render.status != "pending":
                return
            if not self._wait(render, cfg.render_pending_seconds):
                if render.status not in renders.TERMINAL:
                    self._stop(render)
                return
            self.state.update_render(render, status="processing", started_at=time.time())
            if render.fail_reason:
                render.progress = FAIL_PROGRESS
                if not self._wait(render, min(cfg.render_pending_seconds, FAIL_AFTER)):
                    if render.status not in renders.TERMINAL:
                        self._stop(render)
                    return
                self._fail(render, render.fail_reason)
                return
            out = self.state.render_file(render.render_id)
            result = render_draft(
                render.draft,
                out,
                resolve=self.resolver,
                output=render.output,
                default_fps=cfg.render_fps,
                preset=cfg.render_preset,
                progress=lambda pct: setattr(render, "progress", min(pct, 99)),
                cancelled=lambda: self._stopped(render) or render.fail_reason is not None,
                slowdown=cfg.render_slowdown,
                max_side=cfg.render_max_side,
            )
            if render.fail_reason:  # failed on request while encoding
                self._fail(render, render.fail_reason)
                return
            self.state.update_render(
                render,
                status="completed",
                progress=100,
                file=out.name,
                size=result.size,
                duration=result.duration,
                finished_at=time.time(),
            )
            log.info(
                "render %s: %sx%s %.1fs in %.1fs",
                render.render_id,
                result.width,
                result.height,
                result.duration,
                result.seconds_taken,
            )
        except RenderCancelled:
            if render.fail_reason:
                self._fail(render, render.fail_reason)
            else:
                self._stop(render)
        except RenderError as exc:
            self._fail(render, f"Render failed: {exc}")
        except Exception as exc:
            log.exception("render %s crashed", render.render_id)
            self._fail(render, f"Render failed: {type(exc).__name__}: {exc}")

    def _stop(self, render: Render) -> None:
        if render.cancel_requested:
            self.state.update_render(render, status="cancelled", finished_at=time.time())
        else:  # shutting down: leave it for the next start
            self.state.update_render(render, status="pending", progress=5)

    def _fail(self, render: Render, reason: str) -> None:
        self.state.update_render(render, status="failed", error=reason, finished_at=time.time())

    def fail_now(self, render: Render, reason: str = FORCED_FAILURE) -> None:
        """Make a render fail: at once if it is pending, else as soon as its worker notices."""
        with self.state.lock:
            render.fail_reason = reason
            if render.status in ("pending", "completed", "failed", "cancelled"):
                self.state.update_render(
                    render, status="failed", error=reason, finished_at=time.time()
                )
                return
        self.state.save()
