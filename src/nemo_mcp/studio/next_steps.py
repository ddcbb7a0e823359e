"""What to do next after each result: one table, said once, worded by each face.

:func:`outcome_of` names the situation a result leaves the user in; :data:`TABLE` lists the
steps that fit it; :func:`steps_for` applies the one rule on top (steps that cost credits give
way to registering when the balance cannot cover them). The MCP face words a step as a tool call
(:func:`mcp_line`), the command line as a ``nemo-mcp`` command (:func:`cli_lines`); neither names
the other's.

Rules the table keeps: a reply that changed nothing never suggests sending the same message
again (the duplicate guard would refuse it); a finished export never suggests generating again;
nothing suggests exporting an empty timeline; and a chat result, which already carries the
timeline, never suggests reading the timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final, Literal

from pydantic import BaseModel

from nemo_mcp.faces import COMMANDS, Face, Tool
from nemo_mcp.manifest import SkillManifest
from nemo_mcp.studio.views import (
    CreditsNote,
    CreditsView,
    NewSessionView,
    RenderView,
    SessionList,
    SessionView,
    StateView,
    TurnView,
    UploadResult,
    estimated_cost,
)

__all__ = [
    "TABLE",
    "Outcome",
    "Step",
    "cli_json",
    "cli_lines",
    "example_for",
    "mcp_line",
    "outcome_of",
    "phrase",
    "steps_for",
]

StepKind = Literal[
    "upload",  # add the user's files
    "chat",  # say what to make (an example request fits the job)
    "edit",  # ask for a change
    "revise",  # ask for a change, then export again (after a finished export)
    "answer",  # relay the agent's question to the user, send their answer
    "rephrase",  # the same request in other words (never the same message)
    "resend",  # the same message on purpose (only after a lost turn)
    "export",
    "wait",
    "state",
    "register",  # more credits
    "deliver",  # give the user the file
    "new_session",
    "sessions",  # the sessions this account has (an id that was not found)
]
Outcome = Literal[
    "upload_song",
    "upload_visuals",
    "new_session",
    "session",
    "sessions",
    "no_sessions",
    "state_ready",
    "state_media",
    "state_empty",
    "credits_ready",
    "credits_empty",
    "turn_running",
    "turn_detached",
    "turn_ready",
    "turn_not_ready",
    "turn_unchanged",
    "turn_unchanged_ready",
    "turn_question",
    "turn_failed",
    "turn_lost",
    "turn_interrupted",
    "render_running",
    "render_done",
    "render_failed",
]

TABLE: Final[dict[Outcome, tuple[StepKind, ...]]] = {
    "upload_song": ("chat",),
    "upload_visuals": ("chat",),
    "new_session": ("upload", "chat"),
    "session": ("state",),
    "sessions": ("state", "new_session"),
    "no_sessions": ("upload", "chat"),
    "state_ready": ("export", "edit"),
    "state_media": ("chat",),
    "state_empty": ("upload", "chat"),
    "credits_ready": ("export", "edit"),
    "credits_empty": ("upload", "chat"),
    "turn_running": ("wait",),
    "turn_detached": ("state",),  # the command line stopped listening; the timeline will tell
    "turn_ready": ("export", "edit"),
    "turn_not_ready": ("chat", "upload"),
    "turn_unchanged": ("rephrase",),
    "turn_unchanged_ready": ("rephrase", "export"),
    "turn_question": ("answer",),
    "turn_failed": ("rephrase",),
    "turn_lost": ("state", "resend"),
    "turn_interrupted": ("state",),
    "render_running": ("wait",),
    "render_done": ("deliver", "revise"),
    "render_failed": ("export",),
}

# Steps that send a message to the editing agent, which costs credits.
PAID: Final = frozenset({"chat", "edit", "revise", "answer", "rephrase", "resend"})


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    message: str | None = None  # chat: the example request that fits
    job_id: str | None = None  # wait: the command line names the job
    url: str | None = None  # register: the registration link


def outcome_of(view: BaseModel) -> Outcome:
    """The situation a result leaves the user in."""
    if isinstance(view, UploadResult):
        kinds = {item.kind for item in view.uploaded}
        return "upload_visuals" if kinds & {"image", "video"} else "upload_song"
    if isinstance(view, NewSessionView):
        return "new_session"
    if isinstance(view, SessionView):
        return "session"
    if isinstance(view, SessionList):
        return "sessions" if view.current_session_id else "no_sessions"
    if isinstance(view, StateView):
        if view.export_ready:
            return "state_ready"
        return "state_media" if view.uploads else "state_empty"
    if isinstance(view, CreditsView):
        return "credits_ready" if view.export_ready else "credits_empty"
    if isinstance(view, TurnView):
        return _turn_outcome(view)
    if isinstance(view, RenderView):
        if view.status == "downloaded":
            return "render_done"
        if view.status in ("failed", "cancelled"):
            return "render_failed"
        return "render_running"
    raise TypeError(f"no next steps for {type(view).__name__}")


def _turn_outcome(v: TurnView) -> Outcome:
    status = v.status
    if status == "running":
        return "turn_running"
    if status == "awaiting_answer":
        return "turn_question"
    if status == "failed":
        return "turn_failed"
    if status == "lost":
        return "turn_lost"
    if status in ("interrupted", "timed_out"):
        return "turn_interrupted"
    if status == "silent_unchanged":
        return "turn_unchanged_ready" if v.export_ready else "turn_unchanged"
    return "turn_ready" if v.export_ready else "turn_not_ready"


def _credits_of(view: BaseModel) -> CreditsNote | None:
    if isinstance(view, CreditsView):
        request: Literal["generation", "edit"] = "edit" if view.export_ready else "generation"
        return CreditsNote(
            available=view.available,
            next_request=request,
            registration_url=view.registration_url,
        )
    note = getattr(view, "credits", None)
    return note if isinstance(note, CreditsNote) else None


def steps_for(
    view: BaseModel, manifest: SkillManifest, *, outcome: Outcome | None = None
) -> list[Step]:
    """The table's steps for this result (``outcome`` overrides the derived situation)."""
    kinds = TABLE[outcome or outcome_of(view)]
    credits = _credits_of(view)
    if credits is not None and credits.short and any(k in PAID for k in kinds):
        # what the balance cannot cover gives way to getting more credits
        kept: list[StepKind] = [k for k in kinds if k not in PAID]
        first_paid = next(i for i, k in enumerate(kinds) if k in PAID)
        kept.insert(min(first_paid, len(kept)), "register")
        kinds = tuple(kept)
    steps = []
    for kind in kinds:
        step = Step(kind)
        if kind == "chat":
            step = replace(step, message=example_for(manifest, _media_kinds(view)))
        elif kind == "wait":
            step = replace(step, job_id=_job_id(view))
        elif kind == "register":
            step = replace(step, url=credits.registration_url if credits else None)
        steps.append(step)
    return steps


def _media_kinds(view: BaseModel) -> set[str]:
    if isinstance(view, UploadResult):
        return {item.kind for item in view.uploaded}
    if isinstance(view, StateView):
        return {item.kind for item in view.uploads}
    return set()


def _job_id(view: BaseModel) -> str | None:
    if isinstance(view, TurnView):
        return view.turn_id
    if isinstance(view, RenderView):
        return view.render_id
    return None


# What each kind of job asks for first, by the words its example requests use (best first).
_FITS: Final[dict[str, tuple[str, ...]]] = {
    "song": ("my song", "song"),
    "visuals": ("photos", "promo", "images"),
    "prompt": ("background track", "background music", "music"),
}
_JOB_WANTS: Final[dict[str, str]] = {
    "music_video": "song",
    "promo_video": "visuals",
    "music": "prompt",
}


def example_for(manifest: SkillManifest, kinds: set[str]) -> str:
    """The active skill's example request that fits what was uploaded (or its job)."""
    wants = _JOB_WANTS.get(manifest.job)
    if wants is None:  # a skill for every job: what was uploaded decides
        if kinds & {"image", "video"}:
            wants = "visuals"
        elif "audio" in kinds:
            wants = "song"
        else:
            return manifest.examples[0]
    for word in _FITS[wants]:
        pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
        for example in manifest.examples:
            if pattern.search(example):
                return example
    return manifest.examples[0]


# ------------------------------------------------------------------------------ the words
def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mcp(step: Step) -> tuple[str | None, str]:
    """(the tool call, what it is for) for the MCP face."""
    chat = Tool.CHAT
    match step.kind:
        case "upload":
            return f'{Tool.UPLOAD}(items=["<file>"])', "with the user's files"
        case "chat":
            return (
                f"{chat}(message={_quoted(step.message or '<request>')})",
                "or in the user's words",
            )
        case "edit":
            return (
                f'{chat}(message="<change>")',
                f"to edit (about {estimated_cost('edit')} credits)",
            )
        case "revise":
            return f'{chat}(message="<change>")', f"then {Tool.EXPORT}() again, to change it"
        case "answer":
            return f'{chat}(message="<their answer>")', "once the user answers the question"
        case "rephrase":
            return f'{chat}(message="<the request, reworded>")', "(not the same message)"
        case "resend":
            return (
                f'{chat}(message="<same message>", force=true)',
                "only if the timeline still shows no change (charged again)",
            )
        case "export":
            return f"{Tool.EXPORT}()", "for the MP4 (free)"
        case "wait":
            return f"{Tool.WAIT}()", "(the work goes on meanwhile)"
        case "state":
            return f"{Tool.STATE}()", "to see the timeline"
        case "register":
            return None, _register_words(step)
        case "deliver":
            return None, "give the user the file"
        case "new_session":
            return f"{Tool.NEW_SESSION}()", "for a new project"
        case "sessions":
            return f"{Tool.LIST_SESSIONS}()", "to see the sessions there are"


def _cli(step: Step) -> tuple[str | None, str]:
    """(the command, what it is for) for the command line."""
    est = f"about {estimated_cost('edit')} credits"
    chat = COMMANDS[Tool.CHAT]
    match step.kind:
        case "upload":
            return f"{COMMANDS[Tool.UPLOAD]} <file>", "add the files"
        case "chat":
            return f"{chat} {_quoted(step.message or '<what to make>')}", "or your words"
        case "edit":
            return f'{chat} "<the change>"', f"ask for a change ({est})"
        case "revise":
            return f'{chat} "<the change>"', "ask for a change, then export again"
        case "answer":
            return f'{chat} "<your answer>"', "answer the question above"
        case "rephrase":
            return f'{chat} "<the request in other words>"', "not the same message"
        case "resend":
            return (
                f'{chat} --force "<the same message>"',
                "only if the timeline still shows no change (charged again)",
            )
        case "export":
            return COMMANDS[Tool.EXPORT], "render and download the MP4 (free)"
        case "wait":
            return f"{COMMANDS[Tool.WAIT]} {step.job_id or ''}".strip(), "keep waiting"
        case "state":
            return COMMANDS[Tool.STATE], "see the timeline"
        case "register":
            return None, _register_words(step)
        case "deliver":
            return None, "open the file"
        case "new_session":
            return COMMANDS[Tool.NEW_SESSION], "start a new project"
        case "sessions":
            return COMMANDS[Tool.LIST_SESSIONS], "see the sessions there are"


def _register_words(step: Step) -> str:
    if step.url:
        return f"register free at {step.url} for more credits (exporting stays free)"
    return "top up credits in the NemoVideo account (exporting stays free)"


def mcp_line(steps: list[Step]) -> str:
    """One line for a model: ``Next: nemo_export() to render...; or nemo_chat(...) for...``."""
    parts = []
    for step in steps:
        call, words = _mcp(step)
        parts.append(f"{call} {words}" if call else words)
    return "Next: " + "; or ".join(parts) + "." if parts else ""


def cli_lines(steps: list[Step]) -> list[str]:
    """``  next: nemo-mcp export   # render and download the MP4`` lines for a terminal."""
    lines = []
    for step in steps:
        if step.kind == "deliver":
            continue  # the path is printed last; that is the delivery
        command, words = _cli(step)
        lines.append(f"  next: {command}   # {words}" if command else f"  next: {words}")
    return lines


def cli_json(steps: list[Step]) -> list[dict[str, str | None]]:
    """The steps for ``--json`` output: what to do and the command that does it."""
    out: list[dict[str, str | None]] = []
    for step in steps:
        if step.kind == "deliver":
            continue
        command, words = _cli(step)
        out.append({"action": words, "command": command})
    return out


def phrase(step: Step, face: Face) -> str:
    """A step named inline, in a sentence such as an error's hint: `nemo_wait()`."""
    call, words = _mcp(step) if face == "mcp" else _cli(step)
    return f"`{call}`" if call else words
