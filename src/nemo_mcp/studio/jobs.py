"""Long jobs owned by the process, not by the call that started them.

A job runs in the service's task group. Any number of callers may wait on it for a budget,
receiving its progress notes; when the budget runs out the caller gets control back and the job
goes on. Waiters also get a heartbeat note at least every ``heartbeat`` seconds, so an MCP
client's idle timer is reset even when the backend is quiet.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup

from nemo_mcp import constants
from nemo_mcp.redact import redact
from nemo_mcp.studio.views import Progress

log = logging.getLogger(__name__)

T = TypeVar("T")
ProgressFn = Callable[[Progress], Awaitable[None]]


class JobFeed(Protocol):
    """Carries a job's progress notes from the process running it to processes following it
    (hosted workers: Redis). Without one, followers read the stored record now and then."""

    async def publish_note(self, job_id: str, note: Progress) -> None: ...

    async def next_note(self, job_id: str, timeout: float) -> Progress | None:
        """The next note published for ``job_id`` within ``timeout`` seconds, else None."""
        ...


@dataclass(eq=False)
class Job(Generic[T]):
    job_id: str
    kind: str
    started: float = field(default_factory=time.monotonic)
    done: anyio.Event = field(default_factory=anyio.Event)
    result: T | None = None
    error: BaseException | None = None
    last: Progress | None = None
    cancel_scope: anyio.CancelScope | None = None
    _listeners: set[ProgressFn] = field(default_factory=set)

    async def report(self, note: Progress) -> None:
        # progress carries backend text (the agent's words), which may echo a secret
        if note.message and (clean := redact(note.message)) != note.message:
            note = note.model_copy(update={"message": clean})
        self.last = note
        for fn in list(self._listeners):
            try:
                await fn(note)
            except Exception:  # a broken listener (closed client) must not kill the job
                log.debug("progress listener failed", exc_info=True)
                self._listeners.discard(fn)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class JobRunner:
    """Starts jobs in a task group and lets callers wait on them with a budget."""

    def __init__(self, task_group: TaskGroup, *, heartbeat: float = constants.PROGRESS_EVERY):
        self._tg = task_group
        self._jobs: dict[str, Job[Any]] = {}
        self._heartbeat = heartbeat

    def get(self, job_id: str) -> Job[Any] | None:
        return self._jobs.get(job_id)

    def active(self, kind: str) -> list[Job[Any]]:
        """The jobs of ``kind`` still running (each once, aliases aside)."""
        seen = {id(j): j for key, j in self._jobs.items() if j.job_id == key}
        return [j for j in seen.values() if j.kind == kind and not j.done.is_set()]

    def alias(self, job_id: str, job: Job[Any]) -> None:
        """Make ``job`` reachable under another id too (a render's retry has a new id)."""
        self._jobs[job_id] = job

    def start(self, job_id: str, kind: str, body: Callable[[Job[T]], Awaitable[T]]) -> Job[T]:
        existing = self._jobs.get(job_id)
        if existing is not None and not existing.done.is_set():
            return existing
        job: Job[T] = Job(job_id=job_id, kind=kind)
        self._jobs[job_id] = job

        async def run() -> None:
            with anyio.CancelScope() as scope:
                job.cancel_scope = scope
                try:
                    job.result = await body(job)
                except anyio.get_cancelled_exc_class():
                    job.error = anyio.get_cancelled_exc_class()()
                    job.done.set()
                    raise
                except Exception as err:  # the job's failure is its outcome, not a crash
                    job.error = err
                finally:
                    job.done.set()

        self._tg.start_soon(run, name=f"{kind}:{job_id}")
        return job

    async def wait(
        self,
        job: Job[T],
        budget: float | None,
        on_progress: ProgressFn | None = None,
        describe: Callable[[Job[T]], Progress] | None = None,
    ) -> bool:
        """Wait up to ``budget`` seconds (None: until done). True when the job finished."""
        if on_progress is not None:
            job._listeners.add(on_progress)
        deadline = math.inf if budget is None else time.monotonic() + max(0.0, budget)
        try:
            while not job.done.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                with anyio.move_on_after(min(self._heartbeat, remaining)):
                    await job.done.wait()
                if not job.done.is_set() and on_progress is not None:
                    note = describe(job) if describe else (job.last or Progress(message="working"))
                    await on_progress(note)
            return True
        finally:
            if on_progress is not None:
                job._listeners.discard(on_progress)
