"""The studio: the operations users think in, shared by the MCP server, the CLI and library users.

    async with Studio.open() as studio:
        await studio.upload(["song.mp3"])
        turn = await studio.chat("generate a music video clip synced to my song")
        view = await studio.export()          # waits, downloads, checks the MP4

Chat turns and renders are jobs owned by the studio (see ``jobs.py``): a call waits for them up
to a budget and otherwise returns a handle while the job goes on. Render records are written to
the store *before* the submit is sent, so a restarted process resumes polling and download.
A chat message is sent once and never again (a resent message is charged twice).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.lowlevel
import httpx

from nemo_mcp import constants, media
from nemo_mcp.api.client import NemoClient, check_id
from nemo_mcp.config import Settings
from nemo_mcp.contract import codes
from nemo_mcp.errors import (
    AgentTurnFailedError,
    AmbiguousSubmitError,
    DownloadError,
    InsufficientCreditsError,
    InvalidInputError,
    NemoError,
    RenderFailedError,
    RenderNotFoundError,
    SessionNotFoundError,
)
from nemo_mcp.files.outputs import choose_output_path, safe_filename
from nemo_mcp.files.roots import upload_roots
from nemo_mcp.files.uploads import UploadCandidate, check_media_url, dedupe, is_url, resolve_upload
from nemo_mcp.jobs import Job, JobRunner, ProgressFn
from nemo_mcp.manifest import SkillManifest, load_manifest
from nemo_mcp.next_steps import Step, phrase
from nemo_mcp.store import open_store
from nemo_mcp.store.base import StateStore
from nemo_mcp.store.records import RenderRecord, SessionRecord, TurnRecord
from nemo_mcp.timeline.model import Timeline
from nemo_mcp.turns import TurnOutcome, run_turn
from nemo_mcp.untrusted import cap, clean
from nemo_mcp.views import (
    CreditsNote,
    CreditsView,
    MediaItem,
    NewSessionView,
    Progress,
    RenderView,
    SessionList,
    SessionView,
    StateView,
    TrackView,
    TurnView,
    UploadedItem,
    UploadResult,
)

log = logging.getLogger(__name__)

Face = Literal["mcp", "cli"]
_FINISHED_RENDER = frozenset({"downloaded", "failed", "cancelled"})
# An error the stream itself reported (an ADK errorCode or error frame) that means "no credits".
_CREDITS_ERROR = re.compile(r"(^|\D)2001(\D|$)|insufficient credits|积分不足", re.IGNORECASE)


def _turn_failed(v: TurnView, reply: str, steps: list[str], hint: str) -> AgentTurnFailedError:
    """A failed turn as an error: what failed in words, what changed, and nothing to export."""
    reason = "; ".join(v.errors[-3:]).rstrip(". ") or "no reason given"
    doing = f" while {steps[-1]}" if steps else ""
    message = f"The editing agent stopped with an error{doing}: {reason}."
    if v.changes:
        message += (
            f" Before it stopped, the timeline changed: {'; '.join(v.changes)}. Check that the "
            "result is what you want before going on."
        )
    else:
        message += " Nothing on the timeline changed; the request was not finished."
    if reply:
        said = cap(" ".join(clean(reply).split()), 300).replace('"', "'")
        message += f' The agent had said (its words): "{said}"'
    return AgentTurnFailedError(
        message,
        hint=hint,
        details={"turn_id": v.turn_id, "session_id": v.session_id, "errors": v.errors},
    )


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


def _new_render_id() -> str:
    """Render ids are chosen here, so the record exists before the submit is sent."""
    return f"render_{int(time.time() * 1000)}_{secrets.token_hex(3)}"


class Studio:
    def __init__(
        self,
        settings: Settings,
        client: NemoClient,
        store: StateStore,
        runner: JobRunner,
        *,
        face: Face = "mcp",
        poll_interval: float = constants.RENDER_POLL_INTERVAL,
        turn_limits: Any = None,
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

    # ----------------------------------------------------------------------------- lifecycle
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
        turn_limits: Any = None,
    ) -> AsyncIterator[Studio]:
        settings = settings or Settings.from_env()
        store = open_store(settings)
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
            if resume:
                studio.resume_renders()
            try:
                yield studio
            finally:
                tg.cancel_scope.cancel()

    def on_change(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call ``listener(session_id)`` whenever a session's timeline or renders change."""
        self._change_listeners.append(listener)

    async def _changed(self, session_id: str) -> None:
        for fn in list(self._change_listeners):
            try:
                await fn(session_id)
            except Exception:
                log.debug("change listener failed", exc_info=True)

    # ------------------------------------------------------------------------------ sessions
    def _session_view(self, rec: SessionRecord) -> SessionView:
        current = self.store.current_session(self.settings.api_url)
        return SessionView(
            session_id=rec.session_id,
            task_id=rec.task_id,
            language=rec.language or "en",
            created_at=rec.created_at,
            current=current is not None and current.session_id == rec.session_id,
            gone=rec.gone,
            title=rec.title,
        )

    async def _create_session(self, language: str, title: str | None) -> SessionRecord:
        info = await self.client.create_session(language=language, task_name=title or "project")
        return SessionRecord(
            session_id=info.session_id,
            task_id=info.task_id,
            api_url=self.settings.api_url,
            language=language,
            title=title,
            user_id=info.user_id,
            created_at=time.time(),
        )

    async def new_session(
        self, *, language: str | None = None, title: str | None = None
    ) -> NewSessionView:
        lang = language or detect_language(None)
        rec = await self._create_session(lang, title)
        self.store.save_session(rec)
        self.store.set_current_session(self.settings.api_url, rec.session_id)
        return NewSessionView(**self._session_view(rec).model_dump())

    def list_sessions(self) -> SessionList:
        recs = self.store.list_sessions(self.settings.api_url)
        current = self.store.current_session(self.settings.api_url)
        return SessionList(
            sessions=[self._session_view(r) for r in recs],
            current_session_id=current.session_id if current else None,
        )

    def use_session(self, session_id: str) -> SessionView:
        rec = self._named_session(session_id)
        self.store.set_current_session(self.settings.api_url, session_id)
        return self._session_view(rec)

    def _named_session(self, session_id: str, *, remember: bool = True) -> SessionRecord:
        """The session an id names (remembered when new, never made current here)."""
        check_id(session_id, "session")
        rec = self.store.get_session(session_id)
        if rec is None:
            rec = SessionRecord(
                session_id=session_id,
                task_id=None,
                api_url=self.settings.api_url,
                language="en",
                title=None,
                user_id=None,
                created_at=time.time(),
            )
            if remember:
                self.store.save_session(rec)
        if rec.gone:
            raise SessionNotFoundError(
                f"Session {session_id} no longer exists on the server (its timeline is gone)."
            )
        return rec

    async def _session(
        self,
        session_id: str | None,
        *,
        text_hint: str | None = None,
        create: bool = True,
        purpose: str = "show",
    ) -> SessionRecord:
        """The session to work on: the one named, else the current one, else (``create``) a
        new one. A named session never becomes current by being used; without ``create``
        (read-only calls) nothing is created or remembered."""
        if session_id:
            return self._named_session(session_id, remember=create)
        current = self.store.current_session(self.settings.api_url)
        if current is not None and not current.gone:
            return current
        if not create:
            raise InvalidInputError(
                f"Nothing to {purpose} yet: there is no session.",
                hint=f"Upload media ({self._say(Step('upload'))}) or ask for something "
                f"({self._say(Step('chat', message='<what to make>'))}): either starts one.",
            )
        # Parallel calls may each create one; the store keeps the first (adopt_session).
        return self.store.adopt_session(
            await self._create_session(detect_language(text_hint), None)
        )

    async def _replace_gone(self, rec: SessionRecord) -> SessionRecord:
        """1002: the session is gone; remember that and start a fresh one in its place."""
        self.store.mark_session_gone(rec.session_id)
        new = self.store.adopt_session(await self._create_session(rec.language, rec.title))
        await self._changed(rec.session_id)
        return new

    async def _gone_error(self, rec: SessionRecord) -> SessionNotFoundError:
        new = await self._replace_gone(rec)
        return SessionNotFoundError(
            f"Session {rec.session_id} no longer exists on NemoVideo, and its timeline is gone. "
            f"A new session {new.session_id} was started and is now current.",
            hint="Upload the media again into the new session, then repeat the request.",
            details={"old_session_id": rec.session_id, "new_session_id": new.session_id},
        )

    async def _read_state(self, rec: SessionRecord) -> dict[str, Any]:
        try:
            state = await self.client.get_state(rec.session_id)
        except SessionNotFoundError:
            raise await self._gone_error(rec) from None
        self.store.update_session_state(rec.session_id, state)
        return state

    # ------------------------------------------------------------------------------- uploads
    async def upload(
        self,
        items: Sequence[str],
        *,
        session_id: str | None = None,
        roots: Sequence[Path] | None = None,
        on_progress: ProgressFn | None = None,
    ) -> UploadResult:
        wanted = dedupe(i.strip() for i in items if i and i.strip())
        if not wanted:
            raise InvalidInputError(
                "Nothing to upload.", hint="Pass one or more local file paths or http(s) URLs."
            )
        with ExitStack() as held:
            rec, uploaded, notices = await self._upload_checked(
                wanted, held, session_id=session_id, roots=roots, on_progress=on_progress
            )
        await self._changed(rec.session_id)
        return UploadResult(
            session_id=rec.session_id,
            uploaded=uploaded,
            notices=notices,
            credits=await self._credits_note(rec.session_id, self._next_request(rec.session_id)),
        )

    async def _upload_checked(
        self,
        wanted: Sequence[str],
        held: ExitStack,
        *,
        session_id: str | None,
        roots: Sequence[Path] | None,
        on_progress: ProgressFn | None,
    ) -> tuple[SessionRecord, list[UploadedItem], list[str]]:
        """Check every item, then upload them all. Files are opened once, checked on that handle
        and sent from it (``held`` closes them); one bad item fails the call before anything is
        sent. The client's ``roots`` only narrow the allowed folders, never widen them."""
        allowed = upload_roots(
            self.settings.allowed_dirs, roots, problem=self.settings.allowed_dirs_problem
        )
        paths: list[UploadCandidate] = []
        urls: list[str] = []
        for item in wanted:
            if is_url(item):
                urls.append(check_media_url(item))
            else:
                cand = resolve_upload(item, allowed, max_bytes=self.manifest.max_upload_bytes)
                held.callback(cand.close)
                paths.append(cand)
        if session_id:
            check_id(session_id, "session")
        rec = await self._session(session_id)
        notices: list[str] = []
        try:
            uploaded = await self._upload_into(rec, paths, urls, on_progress)
        except SessionNotFoundError:
            old = rec.session_id
            rec = await self._replace_gone(rec)
            notices.append(
                f"Session {old} no longer existed on NemoVideo (its timeline is gone); the files "
                f"went into the new session {rec.session_id}."
            )
            uploaded = await self._upload_into(rec, paths, urls, on_progress)
        return rec, uploaded, notices

    # ------------------------------------------------------------------------------- credits
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

    async def _upload_into(
        self,
        rec: SessionRecord,
        paths: Sequence[UploadCandidate],
        urls: Sequence[str],
        on_progress: ProgressFn | None,
    ) -> list[UploadedItem]:
        out: list[UploadedItem] = []

        async def relay(sent: int, total: int) -> None:
            if on_progress is not None:
                pct = 100.0 * sent / total if total else 0.0
                await on_progress(
                    Progress(message=f"uploading {pct:.0f}%", progress=sent, total=total)
                )

        if paths:
            result = await self.client.upload_files(
                rec.session_id,
                [(p.path.name, p.handle) if p.handle is not None else p.path for p in paths],
                on_progress=relay,
            )
            for cand, info in zip(paths, result.files, strict=False):
                out.append(
                    UploadedItem(
                        name=cand.path.name,
                        kind=info.file_type or cand.kind,
                        source="file",
                        size_bytes=cand.size,
                        duration_s=info.duration,
                        width=info.width,
                        height=info.height,
                        url=info.cdn_url,
                    )
                )
        if urls:
            result = await self.client.upload_urls(rec.session_id, list(urls))
            for url, info in zip(urls, result.files, strict=False):
                out.append(
                    UploadedItem(
                        name=info.filename or url.rsplit("/", 1)[-1],
                        kind=info.file_type or "video",
                        source="url",
                        duration_s=info.duration,
                        width=info.width,
                        height=info.height,
                        url=info.cdn_url,
                    )
                )
        return out

    # ---------------------------------------------------------------------------------- chat
    async def chat(
        self,
        message: str,
        *,
        session_id: str | None = None,
        wait: float | None = None,
        on_progress: ProgressFn | None = None,
        force: bool = False,
    ) -> TurnView:
        """Send one message to the editing agent (once) and wait up to ``wait`` seconds."""
        text = message.strip()
        if not text:
            raise InvalidInputError("The message is empty.", hint="Say what to make or change.")
        if len(text) > constants.MAX_MESSAGE_CHARS:
            raise InvalidInputError(
                f"The message is {len(text)} characters; "
                f"the limit is {constants.MAX_MESSAGE_CHARS}.",
                hint="Shorten it; concrete, short instructions work best.",
            )
        rec = await self._session(session_id, text_hint=text)
        sid = rec.session_id
        turn_id = f"turn_{secrets.token_hex(6)}"
        # The duplicate check, the busy check and the turn record are one atomic step in the
        # store, so two calls at once (or two processes) can never both send the message.
        claim = self.store.claim_turn(
            TurnRecord(
                turn_id=turn_id,
                session_id=sid,
                message_preview=text,
                status="running",
                message_hash=hashlib.sha256(text.encode()).hexdigest(),
            ),
            duplicate_after=None if force else time.time() - constants.DUPLICATE_WINDOW,
            lease_seconds=constants.TURN_LEASE_SECONDS,
        )
        if claim.outcome == "duplicate":
            view = await self.turn_status(claim.turn_id, wait=wait, on_progress=on_progress)
            return view.model_copy(update={"duplicate": True})
        if claim.outcome == "busy":
            raise InvalidInputError(
                f"The agent is still working on the previous message ({claim.turn_id}).",
                hint=f"Wait for it first: {self._say(Step('wait', job_id=claim.turn_id))}.",
                details={"turn_id": claim.turn_id},
            )

        async def body(job: Job[TurnOutcome]) -> TurnOutcome:
            return await self._run_chat_turn(job, rec, turn_id, text)

        job = self.runner.start(turn_id, "turn", body)
        await self.runner.wait(job, self._budget(wait), on_progress, describe=self._describe_turn)
        return self._turn_view(turn_id)

    async def keep_turn_leases(self) -> None:
        """Renew, forever, the store's claim on every chat turn this process is running (so
        other processes see them as busy, and see them go stale if this process dies)."""
        lease = constants.TURN_LEASE_SECONDS
        while True:
            await anyio.sleep(lease / 3)
            for job in self.runner.active("turn"):
                try:
                    self.store.renew_turn_lease(job.job_id, lease)
                except NemoError as err:  # a busy database: the next round may get through
                    log.warning("could not renew a chat turn's claim: %s", err.kind)

    async def _run_chat_turn(
        self, job: Job[TurnOutcome], rec: SessionRecord, turn_id: str, text: str
    ) -> TurnOutcome:
        """The claimed turn: read the state before, send the message once, record the outcome."""
        sid = rec.session_id

        async def relay(note: Any) -> None:
            await job.report(Progress(message=note.message, progress=note.progress))

        kwargs: dict[str, Any] = {}
        if self.turn_limits is not None:
            kwargs["limits"] = self.turn_limits
        try:
            before = await self._read_state(rec)
            balance_before = await self._balance()
            outcome = await run_turn(
                open_stream=lambda: self.client.stream_chat(sid, text),
                read_state=lambda: self.client.get_state(sid),
                before=before,
                on_progress=relay,
                face=self.face,
                **kwargs,
            )
        except SessionNotFoundError as err:
            self.store.update_turn(turn_id, status="failed", updated_at=time.time())
            if err.details.get("new_session_id"):  # raised by _read_state: already replaced
                raise
            raise await self._gone_error(rec) from None
        except NemoError as err:
            self.store.update_turn(
                turn_id,
                status="failed",
                result_json=json.dumps({"errors": [str(err)]}),
                updated_at=time.time(),
            )
            raise
        except BaseException:
            # cancelled (the process is stopping) or a bug: the outcome is unknown
            self.store.update_turn(turn_id, status="interrupted", updated_at=time.time())
            raise
        result = self._outcome_json(outcome)
        if balance_before is not None:
            note = await self._credits_note(
                sid,
                "edit" if outcome.export_ready else "generation",
                spent_from=balance_before,
            )
            result["credits"] = note.model_dump(mode="json") if note else None
        self.store.update_turn(
            turn_id,
            status=outcome.status,
            result_json=json.dumps(result),
            updated_at=time.time(),
        )
        if outcome.state_after is not None:
            self.store.update_session_state(sid, dict(outcome.state_after))
        await self._changed(sid)
        return outcome

    @staticmethod
    def _outcome_json(o: TurnOutcome) -> dict[str, Any]:
        return {
            "reply": o.reply_text,
            "changes": list(o.changes),
            "steps": list(o.steps),
            "errors": list(o.errors),
            "timeline": o.timeline_summary,
            "export_ready": o.export_ready,
            "elapsed": o.duration_s,
            "question": o.question,
            "options": list(o.options),
        }

    def _budget(self, wait: float | None) -> float | None:
        if wait is None:
            return self.settings.wait_budget
        if wait < 0:
            return None  # wait until done (the CLI's default)
        return min(wait, constants.MAX_WAIT_BUDGET)

    @staticmethod
    def _describe_turn(job: Job[Any]) -> Progress:
        last = job.last.message if job.last else "the agent is working"
        return Progress(message=f"{last} ({job.elapsed:.0f} s)")

    async def turn_status(
        self, turn_id: str, *, wait: float | None = 0, on_progress: ProgressFn | None = None
    ) -> TurnView:
        job = self.runner.get(turn_id)
        if job is not None and not job.done.is_set():
            await self.runner.wait(job, self._budget(wait), on_progress, self._describe_turn)
        elif job is None:
            await self._wait_elsewhere(turn_id, self._budget(wait), on_progress)
        return self._turn_view(turn_id)

    async def _wait_elsewhere(
        self, turn_id: str, budget: float | None, on_progress: ProgressFn | None
    ) -> None:
        """Wait for a turn another process runs: watch its record until it ends or goes stale."""
        deadline = None if budget is None else time.monotonic() + budget
        beat = time.monotonic()
        while (rec := self.store.get_turn(turn_id)) is not None and _live(rec):
            if deadline is not None and time.monotonic() >= deadline:
                return
            await anyio.sleep(constants.OTHER_PROCESS_POLL)
            if on_progress is not None and time.monotonic() - beat >= constants.PROGRESS_EVERY:
                beat = time.monotonic()
                await on_progress(Progress(message="another nemo-mcp process runs this turn"))

    def _turn_view(self, turn_id: str) -> TurnView:
        rec = self.store.get_turn(turn_id)
        if rec is None:
            raise InvalidInputError(
                f"No chat turn {turn_id!r} is known here.",
                hint="Use a turn id that an earlier chat returned.",
            )
        job = self.runner.get(turn_id)
        if job is not None and job.done.is_set() and job.error is not None:
            err = job.error
            if isinstance(err, NemoError):
                # refused before it ran (auth, credits, session gone): sending it again is safe
                self._forget_message(turn_id)
                raise err
        status = rec.status
        if status == "running" and (job.done.is_set() if job is not None else not _live(rec)):
            status = "interrupted"  # the process that ran it went away
        data: dict[str, Any] = json.loads(rec.result_json) if rec.result_json else {}
        elapsed = job.elapsed if job is not None else float(data.get("elapsed") or 0.0)
        if job is None and status == "running":  # run by another process
            elapsed = time.time() - rec.created_at
        view = TurnView(
            turn_id=turn_id,
            session_id=rec.session_id,
            status=status,
            done=status != "running",
            reply=data.get("reply") or "",
            changes=data.get("changes") or [],
            errors=data.get("errors") or [],
            timeline=data.get("timeline"),
            export_ready=data.get("export_ready"),
            elapsed_s=round(elapsed, 1),
            question=data.get("question"),
            options=data.get("options") or [],
            credits=data.get("credits"),
        )
        if view.done and not view.changes and any(_CREDITS_ERROR.search(e) for e in view.errors):
            # The agent refused the request for lack of credits (2001 in the stream): nothing
            # ran and nothing was charged, so this is an error result, and resending is safe.
            self._forget_message(turn_id)
            reg = self.settings.registration_url(self._user_id(view.session_id))
            raise InsufficientCreditsError(
                "You are out of NemoVideo credits: the editing agent did not run the request.",
                registration_url=reg,
                code=codes.NO_CREDITS,
                details={"turn_id": turn_id, "session_id": view.session_id},
            )
        if view.status == "failed":
            # The agent did not finish: an error result that says why and what to do next.
            if not view.changes:
                self._forget_message(turn_id)  # nothing happened: the same request may be resent
            hint = (
                f"Check the timeline ({self._say(Step('state'))}), then ask again "
                f"({self._say(Step('rephrase'))}), in other words or in smaller steps."
            )
            raise _turn_failed(view, data.get("reply") or "", data.get("steps") or [], hint)
        return view

    def _forget_message(self, turn_id: str) -> None:
        """Let an identical message be sent again (its turn never ran)."""
        self.store.update_turn(turn_id, message_hash=None)

    def _user_id(self, session_id: str) -> str | None:
        rec = self.store.get_session(session_id)
        if rec is not None and rec.user_id:
            return rec.user_id
        cred = self.store.load_credential(self.settings.api_url)
        return cred.user_id if cred is not None else None

    # --------------------------------------------------------------------------------- state
    async def state(self, *, session_id: str | None = None) -> StateView:
        """Read-only: never creates or switches a session. A session the server no longer has
        is an error saying how to start a new one (a known one is marked gone, as it is)."""
        rec = await self._session(session_id, create=False)
        try:
            raw = await self.client.get_state(rec.session_id)
        except SessionNotFoundError as err:
            known = self.store.get_session(rec.session_id) is not None
            if known:
                self.store.mark_session_gone(rec.session_id)
            raise SessionNotFoundError(
                f"Session {rec.session_id} does not exist on NemoVideo"
                + (" any more; its timeline is gone." if known else " (check the id).")
                + " Nothing was created or switched.",
                hint=f"Start a new session ({self._say(Step('new_session'))}), or upload media "
                f"({self._say(Step('upload'))}), which starts one.",
                status=err.status,
                details={"session_id": rec.session_id},
            ) from None
        self.store.update_session_state(rec.session_id, raw)  # a no-op for an unknown session
        return self.state_view(rec.session_id, raw)

    def state_view(self, session_id: str, raw: Mapping[str, Any]) -> StateView:
        tl = Timeline.from_state(raw)
        tracks = [
            TrackView(
                index=i + 1,
                kind=t.kind,
                label=t.label,
                start_s=t.start_s,
                end_s=t.end_s,
                volume_pct=t.volume_pct,
            )
            for i, t in enumerate(tl.track_views())
        ]
        inner = raw.get("state", raw)
        uploads = list(inner.get("video_infos") or []) if isinstance(inner, Mapping) else []
        generated = list(inner.get("generated_media") or []) if isinstance(inner, Mapping) else []
        return StateView(
            session_id=session_id,
            timeline=tl.summary(),
            tracks=tracks,
            duration_s=tl.duration_s,
            width=tl.width,
            height=tl.height,
            uploads=_media_items(uploads),
            generated_media=_media_items(generated),
            # None: the draft could not be read, so readiness cannot be told (export still sends
            # it as received)
            export_ready=tl.is_export_ready if tl.draft_problem is None else None,
        )

    def cached_state(self, session_id: str) -> dict[str, Any] | None:
        rec = self.store.get_session(session_id)
        return rec.state if rec is not None else None

    # ------------------------------------------------------------------------------- credits
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

    # -------------------------------------------------------------------------------- export
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
        render_id = _new_render_id()
        name = safe_filename(filename or f"nemovideo-{rec.session_id[-8:]}-{render_id[-6:]}")
        # recorded before the submit is sent: nothing can be orphaned
        self._record_render(render_id, rec.session_id, digest=digest, filename=name)
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
            return await self._render_job(job, render_id, draft, filename, overwrite)

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
                new_id = _new_render_id()
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
    ) -> None:
        self.store.save_render(
            RenderRecord(
                render_id=render_id,
                session_id=session_id,
                api_url=self.settings.api_url,
                status="submitting",
                progress=0.0,
                attempt=attempt,
                draft_digest=digest,
                filename=filename,
            )
        )

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
                self._update_render(render_id, status=st.status, progress=st.progress)
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
        problem = _check_mp4(path)
        if problem:
            path.unlink(missing_ok=True)
            raise DownloadError(f"The downloaded file failed its check: {problem}.")
        self._update_render(render_id, status="downloaded", output_path=str(path), error=None)

    def _update_render(self, render_id: str, **fields: Any) -> None:
        fields = {k: v for k, v in fields.items() if v is not None or k == "error"}
        fields["updated_at"] = time.time()
        self.store.update_render(render_id, **fields)

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
        if rec.status not in _FINISHED_RENDER and (job is None or job.done.is_set()):
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
        if rec is None or rec.status in _FINISHED_RENDER or rec.status == "completed":
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
            if not isinstance(err, RenderFailedError) or rec.status not in _FINISHED_RENDER:
                raise err
        status = rec.status
        done = status in _FINISHED_RENDER
        probe = media.probe(Path(rec.output_path)) if rec.output_path and done else None
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
            view.credits = CreditsNote(
                available=self._last_balance,
                next_request="edit",
                registration_url=self.settings.registration_url(self._user_id(rec.session_id)),
            )
        return view

    # ------------------------------------------------------------------------------ job ids
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
                running = not job.done.is_set() if job is not None else _live(turn)
                jobs.append((turn.created_at, running, turn.turn_id))
            for render in self.store.list_renders(sid):
                running = render.status not in _FINISHED_RENDER
                jobs.append((render.created_at, running, render.render_id))
        if not jobs:
            raise InvalidInputError(
                "There is no chat or export to wait for in this session.",
                hint=f"Start one: {self._say(Step('chat', message='<what to make>'))}.",
            )
        live = [j for j in jobs if j[1]]
        return max(live or jobs)[2]

    def _say(self, step: Step) -> str:
        """A step named in this face's words (for hints inside errors)."""
        return phrase(step, self.face)


def _live(turn: TurnRecord) -> bool:
    """A running turn whose owner (this process or another) still renews its claim."""
    return turn.status == "running" and (turn.lease_until or 0) > time.time()


def _download_failure(err: BaseException) -> DownloadError:
    """An unexpected error while saving a download, as an actionable one."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
    return DownloadError(
        f"The video could not be saved ({reason}).",
        hint="Check the output folder (NEMO_MCP_OUTPUT_DIR: it must exist or be creatable, with "
        "free space), then wait for the export again, or export with another filename.",
    )


def _media_items(records: Sequence[Any], limit: int = 50) -> list[MediaItem]:
    """Uploaded or generated media as small typed items (their record shape is undocumented)."""
    out = []
    for raw in records[:limit]:
        if not isinstance(raw, Mapping):
            continue
        name = _first(raw, "filename", "file_name", "name", "title", "media_id", "id")
        kind = _first(raw, "file_type", "type", "media_type", "kind")
        url = _first(raw, "cdn_url", "url")
        out.append(
            MediaItem(
                name=(str(name) if name is not None else "media")[:200],
                kind=str(kind or "media")[:20],
                duration_s=_number(_first(raw, "duration", "duration_s")),
                width=_int(raw.get("width")),
                height=_int(raw.get("height")),
                url=str(url)[:2000] if isinstance(url, str) and url.startswith("http") else None,
            )
        )
    return out


def _first(raw: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = raw.get(key)
        if value not in (None, ""):
            return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(float(value), 2)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _check_mp4(path: Path) -> str | None:
    """Why a downloaded file is not a usable MP4, or None when it is."""
    if not path.exists() or path.stat().st_size == 0:
        return "the file is empty"
    if media.sniff(path) != "isobmff":
        return "it is not an MP4 container"
    if media.has_pyav():
        probe = media.probe(path)
        if probe is None or probe.video_codec is None:
            return "it has no decodable video stream"
    return None
