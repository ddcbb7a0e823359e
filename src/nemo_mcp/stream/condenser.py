"""Fold one chat turn's agent events into what a person needs: the reply, the steps, the errors.

:class:`TurnCondenser` is pure: it is fed events together with a timestamp from the caller's
clock and hands back :class:`ProgressNote` objects to relay. Rules (api-contract 7.1, 7.5, 7.9):

- the reply is the text of non-partial, non-thought text events; partial deltas are progress
  only and are *replaced* by the final text (ADK repeats the whole text in its final aggregated
  event), never appended to it;
- a trailing "I encountered a temporary issue..." is dropped when a real reply came before it;
- tool calls become human steps ("generating video"), consecutive repeats folded;
- a question to the user (``ask_question``, see :mod:`nemo_mcp.stream.question`) that no
  later step moves past is the turn's open question: the agent waits for the answer;
- the turn failed when it ends in an error: a fatal error frame, or a model error
  (``errorCode``) that no later event resolved. Text said *before the agent's last tool call*
  does not make it a success ("Sure, generating now..." then an error is a failure); an error
  after the agent's closing words (no tool call since) is trailing: kept, but not a failure;
- text is cleaned of control characters and capped at ``MAX_REPLY_CHARS``;
- a progress note is due at least every ``progress_every`` seconds while the turn runs, and a
  "⏳ Still working..." note every ``still_working_every`` seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from nemo_mcp.constants import (
    MAX_REPLY_CHARS,
    MAX_TURN_ERROR_CHARS,
    MAX_TURN_STEPS,
    PROGRESS_EVERY,
    PROGRESS_NOTE_MIN_INTERVAL,
    STILL_WORKING_EVERY,
)
from nemo_mcp.redact import redact
from nemo_mcp.stream.events import AgentEvent
from nemo_mcp.stream.question import AgentQuestion, is_answer, read_question
from nemo_mcp.untrusted import clean_text, one_line, truncate

__all__ = [
    "STILL_WORKING",
    "NoteKind",
    "ProgressNote",
    "TurnCondenser",
    "TurnSummary",
    "human_tool_name",
]

NoteKind = Literal["step", "text", "working", "still_working", "error", "recovery", "question"]
STILL_WORKING: Final = "⏳ Still working..."
TRUNCATED_MARKER: Final = "\n\n[reply truncated]"

_PREVIEW_CHARS: Final = 120
_MAX_TOOL_NAME: Final = 64
_SEEN_CALL_IDS: Final = 256
_MAX_TOUCHED_KEYS: Final = 200
_TEMPORARY_ISSUE = re.compile(
    r"encountered\s+a\s+temporary\s+(?:issue|problem|error)|遇到了?(?:一个)?(?:临时|暂时)(?:性)?的?问题",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ProgressNote:
    """A line worth relaying while a turn runs. ``progress`` is 0..1 when known."""

    message: str
    progress: float | None = None
    kind: NoteKind = "working"


@dataclass(frozen=True, slots=True)
class TurnSummary:
    reply_text: str
    had_reply: bool
    steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    partial_text: str = ""
    touched_state: bool = False
    events_seen: int = 0
    touched_keys: list[str] = field(default_factory=list)
    failed: bool = False
    heartbeats: int = 0
    tool_calls: int = 0
    question: str | None = None  # the agent's open question (cleaned), None when there is none
    options: list[str] = field(default_factory=list)


# -- tool names -----------------------------------------------------------------------------------
_EXACT_TOOLS: Final = {
    "generate_video": "generating video",
    "generate_video_with_seedance": "generating video",
    "text_to_video": "generating video",
    "image_to_video": "generating video",
    "generate_music": "generating music",
    "generate_music_with_suno": "generating music",
    "suno": "generating music",
    "generate_bgm": "generating music",
    "add_bgm": "adding background music",
    "add_music": "adding background music",
    "add_background_music": "adding background music",
    "edit_multitrack": "editing the timeline",
    "add_title": "adding a title",
    "add_text": "adding a title",
    "add_subtitles": "adding subtitles",
    "add_captions": "adding subtitles",
    "generate_subtitles": "adding subtitles",
    "generate_image": "generating an image",
    "text_to_image": "generating an image",
    "generate_voiceover": "generating a voice-over",
    "text_to_speech": "generating a voice-over",
    "tts": "generating a voice-over",
    "analyze_video": "analysing the video",
    "analyse_video": "analysing the video",
    "analyze_media": "analysing the media",
    "analyze_audio": "analysing the audio",
    "render": "rendering",
    "render_video": "rendering",
    "export_video": "rendering",
    "transfer_to_agent": "handing over to another agent",
    "ask_question": "asking you a question",
    "ask_user": "asking you a question",
}
_TOOL_PATTERNS: Final = (
    (re.compile(r"seedance|generate_?video|video_?gen|kling|runway"), "generating video"),
    (re.compile(r"suno|generate_?(?:music|song|bgm)|music_?gen"), "generating music"),
    (re.compile(r"edit_?multi_?track|edit_?timeline"), "editing the timeline"),
    (re.compile(r"add_?(?:title|text)"), "adding a title"),
    (re.compile(r"subtitle|caption"), "adding subtitles"),
    (re.compile(r"voice_?over|text_?to_?speech"), "generating a voice-over"),
    (re.compile(r"(?:^|_)(?:ask|clarify)(?:_|$)|question"), "asking you a question"),
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.\- ]+")
_SEPARATORS = re.compile(r"[_.\-\s]+")


def human_tool_name(name: str) -> str:
    """``generate_video_with_seedance`` -> "generating video"; unknown names become words."""
    raw = _UNSAFE_NAME.sub("", name)[:_MAX_TOOL_NAME].strip()
    if not raw:
        return "using a tool"
    key = _CAMEL.sub("_", raw).lower()
    key = _SEPARATORS.sub("_", key).strip("_")
    if key in _EXACT_TOOLS:
        return _EXACT_TOOLS[key]
    for pattern, words in _TOOL_PATTERNS:
        if pattern.search(key):
            return words
    return key.replace("_", " ") or "using a tool"


def _fmt_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    return f"{minutes} min {sec} s" if sec else f"{minutes} min"


class TurnCondenser:
    """Accumulates one turn. Feed it every event with the current time; relay what it returns."""

    def __init__(
        self,
        *,
        start: float,
        progress_every: float = PROGRESS_EVERY,
        still_working_every: float = STILL_WORKING_EVERY,
        max_reply_chars: int = MAX_REPLY_CHARS,
        min_note_interval: float = PROGRESS_NOTE_MIN_INTERVAL,
    ) -> None:
        self.start = start
        self.progress_every = progress_every
        self.still_working_every = still_working_every
        self.max_reply_chars = max_reply_chars
        self.min_note_interval = min_note_interval
        self._finals: list[str] = []
        self._final_chars = 0
        self._truncated = False
        self._last_final: str | None = None
        self._pending_issues: list[str] = []
        self._partial: list[str] = []
        self._partial_chars = 0
        self._steps: list[str] = []
        self._current_step = ""
        self._errors: list[str] = []
        self._fatal = False
        self._model_error_open = False
        self._after_reply = False  # the agent has spoken and called no tool since
        self._touched: set[str] = set()
        self._seen_calls: dict[str, None] = {}
        self._events = 0
        self._heartbeats = 0
        self._tool_calls = 0
        self._question: AgentQuestion | None = None
        self._last_note_at = start
        self._last_event_note_at: float | None = None
        self._last_still_at = start

    # -- state ----------------------------------------------------------------------------------
    @property
    def had_reply(self) -> bool:
        return bool(self._finals or self._pending_issues)

    @property
    def failed(self) -> bool:
        """The turn ended in an error: a fatal error frame, or a model error that no later event
        resolved. Text before the error does not make it a success."""
        return self._fatal or self._model_error_open

    @property
    def question(self) -> AgentQuestion | None:
        """The agent's open question: asked, and not moved past or answered in the stream."""
        return self._question

    # -- feeding --------------------------------------------------------------------------------
    def feed(self, event: AgentEvent, now: float) -> list[ProgressNote]:
        self._events += 1
        notes: list[ProgressNote] = []
        kind = event.kind
        if kind == "heartbeat":
            self._heartbeats += 1
        elif kind == "text":
            self._on_final_text(event.text, now, notes)
        elif kind == "partial_text":
            self._on_partial(event.text, now, notes)
        elif kind == "tool_call":
            self._on_tool_call(event, now, notes)
        elif kind == "tool_result":
            self._model_error_open = False
            question = self._question
            answered = question is not None and event.call_id == question.call_id
            if answered and is_answer(event.payload):
                self._question = None
            if event.failed:
                self._add_step(f"{human_tool_name(event.tool)} failed", now, notes)
        elif kind == "state_delta":
            if len(self._touched) < _MAX_TOUCHED_KEYS:
                self._touched.update(event.keys)
        elif kind == "error":
            self._fatal = self._fatal or not self._after_reply
            self._add_error(event, now, notes)
        elif kind == "model_error":
            self._model_error_open = not self._after_reply
            self._add_error(event, now, notes)
        notes.extend(self.tick(now))
        return notes

    def tick(self, now: float) -> list[ProgressNote]:
        """Notes that are due by time alone: call it while waiting, even with no events."""
        if now - self._last_still_at >= self.still_working_every:
            self._last_still_at = now
            self._last_note_at = now
            elapsed = _fmt_elapsed(now - self.start)
            step = f", {self._current_step}" if self._current_step else ""
            return [ProgressNote(f"{STILL_WORKING} ({elapsed}{step})", None, "still_working")]
        if now - self._last_note_at >= self.progress_every:
            self._last_note_at = now
            doing = self._current_step or "the agent is working"
            elapsed = _fmt_elapsed(now - self.start)
            return [ProgressNote(f"Working: {doing} ({elapsed})", None, "working")]
        return []

    # -- result ---------------------------------------------------------------------------------
    def result(self) -> TurnSummary:
        # A trailing "temporary issue" after a real reply is ignored (api-contract 7.1).
        finals = list(self._finals) or list(self._pending_issues)
        reply = "\n\n".join(finals)
        if self._truncated or len(reply) > self.max_reply_chars:
            keep = max(0, self.max_reply_chars - len(TRUNCATED_MARKER))
            reply = (reply[:keep].rstrip() + TRUNCATED_MARKER)[: self.max_reply_chars]
        partial = "".join(self._partial)
        return TurnSummary(
            reply_text=reply,
            had_reply=bool(finals),
            steps=list(self._steps),
            errors=list(self._errors),
            partial_text=partial,
            touched_state=bool(self._touched),
            events_seen=self._events,
            touched_keys=sorted(self._touched),
            failed=self.failed,
            heartbeats=self._heartbeats,
            tool_calls=self._tool_calls,
            question=self._question.text if self._question is not None else None,
            options=list(self._question.options) if self._question is not None else [],
        )

    # -- internals ------------------------------------------------------------------------------
    def _due(self, now: float) -> bool:
        last = self._last_event_note_at
        return last is None or now - last >= self.min_note_interval

    def _note(self, notes: list[ProgressNote], now: float, message: str, kind: NoteKind) -> None:
        """Relay an event-driven note, at most one per ``min_note_interval`` (errors always).

        A step note that is skipped is not lost: the periodic note names the current step.
        """
        if kind not in ("error", "question") and not self._due(now):
            return
        notes.append(ProgressNote(message, None, kind))
        self._last_note_at = now
        self._last_event_note_at = now

    def _on_final_text(self, text: str, now: float, notes: list[ProgressNote]) -> None:
        self._model_error_open = False
        self._partial.clear()
        self._partial_chars = 0
        cleaned = clean_text(text).strip()
        if not cleaned or cleaned == self._last_final:
            return
        self._last_final = cleaned
        if _TEMPORARY_ISSUE.search(cleaned):
            # Held back: dropped if it turns out to be trailing after a normal reply, kept (in
            # order) if a normal message follows, and kept if it is all the agent said.
            if len(self._pending_issues) < MAX_TURN_STEPS:
                self._pending_issues.append(cleaned)
            return
        for pending in self._pending_issues:
            self._append_final(pending)
        self._pending_issues.clear()
        self._append_final(cleaned)
        self._after_reply = True
        self._note(notes, now, "Agent: " + truncate(one_line(cleaned), _PREVIEW_CHARS), "text")

    def _append_final(self, text: str) -> None:
        if self._truncated:
            return
        sep = 2 if self._finals else 0
        room = self.max_reply_chars - self._final_chars - sep
        if len(text) > room:
            self._truncated = True
            text = text[: max(0, room)]
            if not text:
                return
        self._finals.append(text)
        self._final_chars += len(text) + sep

    def _on_partial(self, text: str, now: float, notes: list[ProgressNote]) -> None:
        if not text:
            return
        room = self.max_reply_chars - self._partial_chars
        if room > 0:
            piece = clean_text(text[:room])
            self._partial.append(piece)
            self._partial_chars += len(piece)
        if self._due(now):
            preview = one_line("".join(self._partial)[-_PREVIEW_CHARS * 2 :])
            if preview:
                tail = preview[-_PREVIEW_CHARS:]
                prefix = "…" if len(preview) > _PREVIEW_CHARS else ""
                self._note(notes, now, f"Agent: {prefix}{tail}", "text")

    def _on_tool_call(self, event: AgentEvent, now: float, notes: list[ProgressNote]) -> None:
        if event.call_id:
            if event.call_id in self._seen_calls:
                return  # a partial chunk and its aggregated event carry the same call
            self._seen_calls[event.call_id] = None
            if len(self._seen_calls) > _SEEN_CALL_IDS:
                del self._seen_calls[next(iter(self._seen_calls))]
        self._tool_calls += 1
        self._after_reply = False
        question = read_question(event.tool, event.payload, long_running=event.long_running)
        if question is not None:
            self._question = AgentQuestion(question.text, question.options, event.call_id)
            self._model_error_open = False
            preview = truncate(question.text, _PREVIEW_CHARS) or "a question"
            self._add_step("asking you a question", now, notes)
            self._note(notes, now, f'The agent asks: "{preview}"', "question")
            return
        self._question = None  # the agent went on: whatever it asked is behind it
        self._add_step(human_tool_name(event.tool), now, notes)

    def _add_step(self, step: str, now: float, notes: list[ProgressNote]) -> None:
        if step == self._current_step:
            return
        self._current_step = step
        if len(self._steps) < MAX_TURN_STEPS and (not self._steps or self._steps[-1] != step):
            self._steps.append(step)
        self._note(notes, now, step[:1].upper() + step[1:] + "...", "step")

    def _add_error(self, event: AgentEvent, now: float, notes: list[ProgressNote]) -> None:
        message = one_line(event.text) or "unspecified error"
        code = one_line(event.code)
        if code and code not in message:
            message = f"{code}: {message}"
        message = truncate(redact(message), MAX_TURN_ERROR_CHARS)
        is_new = not self._errors or self._errors[-1] != message
        if is_new and len(self._errors) < MAX_TURN_STEPS:
            self._errors.append(message)
        self._note(notes, now, f"Agent error: {message}", "error")
