"""Chat turns: one message to the editing agent, sent once and never again (a resent message is
charged twice). Starting a turn is one atomic step in the store (the duplicate check, the busy
check and the record), so two calls or two processes can never both send it; the turn runs as a
job (``turns.run_turn``) whose outcome is recorded, and a caller waits on it for a budget.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from typing import Any

import anyio
import anyio.lowlevel

from nemo_mcp import constants
from nemo_mcp.contract import codes
from nemo_mcp.errors import (
    AgentTurnFailedError,
    InsufficientCreditsError,
    InvalidInputError,
    NemoError,
    SessionNotFoundError,
)
from nemo_mcp.store.records import SessionRecord, TurnRecord
from nemo_mcp.studio.account import Account
from nemo_mcp.studio.jobs import Job, ProgressFn
from nemo_mcp.studio.next_steps import Step
from nemo_mcp.studio.settle import TurnOutcome
from nemo_mcp.studio.turns import run_turn
from nemo_mcp.studio.views import (
    Progress,
    TurnView,
)
from nemo_mcp.untrusted import cap, clean

log = logging.getLogger(__name__)

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


def live_turn(turn: TurnRecord) -> bool:
    """A running turn whose owner (this process or another) still renews its claim."""
    return turn.status == "running" and (turn.lease_until or 0) > time.time()


class Chat(Account):
    """Chat turns: one message sent once, owned as a job, its outcome recorded."""

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
            feed = self.job_feed
            if feed is not None:  # processes waiting on this turn elsewhere hear its notes

                async def relay(note: Progress) -> None:
                    await feed.publish_note(turn_id, note)

                job._listeners.add(relay)
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
        while (rec := self.store.get_turn(turn_id)) is not None and live_turn(rec):
            if deadline is not None and time.monotonic() >= deadline:
                return
            heard = None
            if self.job_feed is not None:  # the running process's own notes, as they come
                heard = await self.job_feed.next_note(turn_id, constants.OTHER_PROCESS_POLL)
            else:
                await anyio.sleep(constants.OTHER_PROCESS_POLL)
            if on_progress is not None and heard is not None:
                beat = time.monotonic()
                await on_progress(heard)
            elif on_progress is not None and time.monotonic() - beat >= constants.PROGRESS_EVERY:
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
        if status == "running" and (job.done.is_set() if job is not None else not live_turn(rec)):
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
