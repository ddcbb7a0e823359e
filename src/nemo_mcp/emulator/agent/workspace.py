"""A turn's working parts: the :class:`Workspace` (a copy of the session's state that steps
change), :class:`Step` s and the :class:`Plan` that holds them, and the helpers steps share."""

from __future__ import annotations

import copy
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.agent.intents import is_chinese
from nemo_mcp.emulator.records import Media, Session
from nemo_mcp.emulator.render import synth
from nemo_mcp.emulator.state import EmulatorState

MIN_SECONDS: Final = 2.0
MAX_SECONDS: Final = 600.0
GUI_HINT_EN: Final = "Preview it in the timeline, then click Export to download your video."
GUI_HINT_ZH: Final = "可以在时间线中预览，然后点击「导出」下载视频。"


@dataclass
class Workspace:
    """A working copy of a session's state that a turn's steps change, in order."""

    state: EmulatorState
    session_id: str
    task_name: str
    message: str
    chinese: bool
    video_infos: list[dict[str, Any]]
    draft: dr.Draft | None
    canvas: dict[str, Any]
    analyses: dict[str, Any]
    generated: list[dict[str, Any]]
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, state: EmulatorState, sess: Session, message: str) -> Workspace:
        with state.lock:
            return cls(
                state=state,
                session_id=sess.session_id,
                task_name=sess.task_name,
                message=message,
                chinese=is_chinese(message) or (not message.strip() and sess.language[:2] == "zh"),
                video_infos=copy.deepcopy(sess.video_infos),
                draft=copy.deepcopy(sess.draft),
                canvas=copy.deepcopy(sess.canvas_config),
                analyses=copy.deepcopy(sess.video_analyses),
                generated=copy.deepcopy(sess.generated_media),
            )

    def delta(self, *keys: str) -> dict[str, Any]:
        values = {
            "draft": self.draft,
            "canvas_config": self.canvas,
            "video_analyses": self.analyses,
            "generated_media": self.generated,
        }
        return {k: copy.deepcopy(values[k]) for k in keys}

    def uploads(self, kind: str) -> list[dict[str, Any]]:
        return [v for v in self.video_infos if v.get("file_type") == kind]

    def path_of(self, info: dict[str, Any]) -> Path | None:
        mid = info.get("media_id")
        return self.state.media_path(mid) if isinstance(mid, str) else None

    def say(self, en: str, zh: str) -> str:
        return zh if self.chinese else en


@dataclass
class StepResult:
    response: dict[str, Any]
    delta: dict[str, Any]


@dataclass
class Step:
    tool: str
    args: dict[str, Any]
    seconds: float
    long_running: bool
    run: Callable[[Workspace], StepResult]
    text: Callable[[Workspace], str] | None = None
    call_id: str = field(default_factory=lambda: f"adk-{secrets.token_hex(16)}")
    done: bool = False
    error: str | None = None


TurnKind = Literal["generation", "edit", "chat"]


@dataclass
class Plan:
    kind: TurnKind
    steps: list[Step]
    cost: int
    workspace: Workspace
    replies: list[str] = field(default_factory=list)
    silent: bool = False
    question: dict[str, Any] | None = None  # ask_question arguments: the turn stops for an answer

    @property
    def changed(self) -> bool:
        return any(s.done and not s.error for s in self.steps)

    def final_text(self) -> str | None:
        """The turn's closing text, or None for a silent edit turn."""
        ws = self.workspace
        failed = any(s.error for s in self.steps)
        if self.silent and not failed and not self.replies:
            return None
        parts: list[str] = []
        for s in self.steps:
            if s.error:
                parts.append(s.error)
            elif s.done and s.text is not None:
                parts.append(s.text(ws))
        parts.extend(self.replies)
        if self.kind == "edit" and self.changed:
            parts.append(ws.say(GUI_HINT_EN, GUI_HINT_ZH))
        return " ".join(p for p in parts if p) or None


class Abort(Exception):
    """An edit that turned out to be impossible while running; the text explains why."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def need_draft(ws: Workspace) -> str:
    return ws.say(
        "There's nothing on the timeline yet. Upload some media and ask me to create a video or "
        "a background track first.",
        "时间线上还没有内容。请先上传素材，让我生成一个视频或背景音乐。",
    )


def fmt_s(seconds: float) -> str:
    return f"{seconds:.0f}" if abs(seconds - round(seconds)) < 0.05 else f"{seconds:.1f}"


def clamp_seconds(value: float) -> float:
    return max(MIN_SECONDS, min(value, MAX_SECONDS))


def canvas_size(ws: Workspace) -> tuple[int, int]:
    return int(ws.canvas.get("width") or 1920), int(ws.canvas.get("height") or 1080)


def new_draft(ws: Workspace, title: str) -> dr.Draft:
    width, height = canvas_size(ws)
    return dr.new_draft(title, width=width, height=height)


def src_fields(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "src": info.get("url") or info.get("cdn_url"),
        "mid": info.get("media_id"),
        "name": info.get("filename"),
    }


def register_generated_audio(
    ws: Workspace, seconds: float, mood: str, bpm: float | None
) -> dict[str, Any]:
    """Synthesise a track, store it as session media, and describe it for generated_media."""
    name = f"{mood}_background_{fmt_s(seconds)}s.mp3"
    media_id, safe, path = ws.state.new_media_slot(name)
    samples = synth.synth_music(seconds, bpm=bpm, mood=mood, seed=len(ws.generated))
    synth.write_audio(path, samples)
    size = path.stat().st_size
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    item = Media(
        media_id=media_id,
        session_id=ws.session_id,
        filename=safe,
        file_type="audio",
        rel_path=f"{media_id}/{safe}",
        size=size,
        hash=digest,
        info={"duration": round(seconds, 3)},
        created_at=time.time(),
    )
    ws.state.add_media(item)
    entry = {
        "media_id": media_id,
        "type": "audio",
        "filename": safe,
        "url": item.cdn_path,
        "duration": round(seconds, 3),
        "mood": mood,
        "bpm": bpm or synth.MOODS.get(mood, synth.MOODS["upbeat"])["bpm"],
        "prompt": ws.message[:300],
        "tool": "generate_music",
        "created_at": time.time(),
    }
    ws.generated.append(entry)
    return entry
