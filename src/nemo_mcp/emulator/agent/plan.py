"""Planning a turn: which steps a message makes (or the question the agent asks instead), what
it costs, whether the edit turn is silent; and running a step."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.agent.edits import edit_step
from nemo_mcp.emulator.agent.generate import (
    music_steps,
    music_text,
    music_video_steps,
    music_video_text,
    promo_steps,
    promo_text,
)
from nemo_mcp.emulator.agent.intents import (
    EDIT_KINDS,
    GENERATION_KINDS,
    Intent,
    parse_message,
    ratio_in,
)
from nemo_mcp.emulator.agent.workspace import (
    Abort,
    Plan,
    Step,
    StepResult,
    TurnKind,
    Workspace,
    need_draft,
)
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.records import Session
from nemo_mcp.emulator.state import EmulatorState

QUESTION_TOOL: Final = "ask_question"


def silent_by_hash(session_id: str, turn: int, percent: int) -> bool:
    digest = hashlib.sha256(f"{session_id}:{turn}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def help_text(ws: Workspace) -> str:
    return ws.say(
        "I can help you with: a music video synced to your song (upload an MP3 first), a promo "
        'video from your photos and voiceover (e.g. "turn these photos into a 30-second promo '
        'video with transitions"), a royalty-free background track from a mood ("generate a '
        '30-second upbeat acoustic background track"), and edits such as adding a title, '
        "setting the background-music volume, trimming, or changing the aspect ratio "
        "(16:9, 9:16, 1:1). What would you like to make?",
        "我可以帮你：根据上传的歌曲制作卡点音乐视频；用照片和配音制作宣传视频（例如“把这些照片做成30秒的"
        "宣传视频，带转场”）；根据情绪描述生成免版税背景音乐（例如“生成30秒欢快的背景音乐”）；"
        "以及添加标题、调整背景音乐音量、裁剪时长、修改画面比例（16:9、9:16、1:1）。你想做什么？",
    )


def _info_text(ws: Workspace, intent: Intent) -> str:
    if intent.kind == "export":
        if not dr.is_ready(ws.draft):
            return need_draft(ws)
        return ws.say(
            "Your timeline is ready. Click the Export button in the top-right corner to render "
            "it and download your video.",
            "时间线已准备好。点击右上角的「导出」按钮即可渲染并下载视频。",
        )
    if intent.kind == "status":
        return dr.summary(ws.draft, chinese=ws.chinese)
    return help_text(ws)


def plan_turn(
    state: EmulatorState,
    sess: Session,
    message: str,
    cfg: EmulatorConfig,
    *,
    turn: int,
    silent: bool | None = None,
) -> Plan:
    """Decide what this message does. ``silent`` forces (True) or forbids (False) a text-less
    edit turn; None follows ``cfg.silent_edits``."""
    pending = sess.pending_question
    if pending is not None:
        with state.changing():
            sess.pending_question = None
        ratio = ratio_in(message)
        if ratio:  # the answer to the agent's question: resume the request it was about
            message = f"{pending.get('message', '')} ({ratio})"
    ws = Workspace.of(state, sess, message)
    intents = parse_message(message)
    if cfg.agent_questions:
        about = _needs_ratio(ws, intents)
        if about is not None:
            return _ask_ratio(state, sess, ws, message, about)
    steps: list[Step] = []
    replies: list[str] = []
    kind: TurnKind = "chat"

    first = intents[0]
    if first.kind in GENERATION_KINDS:
        gen_kind = first.kind
        if gen_kind == "video":
            if any(v.get("file_type") in ("image", "video") for v in ws.video_infos):
                gen_kind = "promo"
            elif ws.uploads("audio"):
                gen_kind = "music_video"
        built: list[Step] | str
        text_fn: Callable[[Workspace], str] = help_text
        if gen_kind == "music_video":
            built, text_fn = music_video_steps(ws, first, cfg), music_video_text
        elif gen_kind == "promo":
            built, text_fn = promo_steps(ws, first, cfg), promo_text
        elif gen_kind == "music":
            built, text_fn = music_steps(ws, first, cfg), music_text
        else:
            built = help_text(ws)
        if isinstance(built, str):
            replies.append(built)
        else:
            built[-1].text = text_fn
            steps.extend(built)
            kind = "generation"
        intents = intents[1:]

    for intent in intents:
        if intent.kind in EDIT_KINDS:
            if intent.kind != "aspect" and ws.draft is None and kind != "generation":
                replies.append(need_draft(ws))
                continue
            made = edit_step(ws, intent, cfg)
            if isinstance(made, str):
                replies.append(made)
                continue
            step, step_text = made
            step.text = step_text
            steps.append(step)
            if kind == "chat":
                kind = "edit"
        else:
            replies.append(_info_text(ws, intent))

    if kind == "generation":
        cost = cfg.generation_cost
    elif kind == "edit":
        cost = cfg.edit_cost
    else:
        cost = 0
    plan = Plan(kind=kind, steps=steps, cost=cost, workspace=ws, replies=replies)
    if kind == "edit" and not replies:
        if silent is not None:
            plan.silent = silent
        elif cfg.silent_edits == "always":
            plan.silent = True
        elif cfg.silent_edits == "auto":
            plan.silent = silent_by_hash(sess.session_id, turn, cfg.silent_percent)
    return plan


def _needs_ratio(ws: Workspace, intents: list[Intent]) -> str | None:
    """What an aspect-ratio question would be about ("promo" / "aspect"), or None."""
    if any(i.kind == "aspect" and i.ratio is None for i in intents):
        return "aspect"
    first = intents[0]
    promo = first.kind == "promo" or (
        first.kind == "video" and any(v.get("file_type") == "image" for v in ws.video_infos)
    )
    chosen = any(i.kind == "aspect" for i in intents)  # the request names a ratio itself
    return "promo" if promo and not chosen else None


def _ask_ratio(
    state: EmulatorState, sess: Session, ws: Workspace, message: str, about: str
) -> Plan:
    if about == "promo":
        question = ws.say(
            "Which aspect ratio should the promo video have?", "宣传视频要用哪种画面比例？"
        )
    else:
        question = ws.say("Which aspect ratio would you like?", "你想要哪种画面比例？")
    options = (
        ["16:9（横屏）", "9:16（竖屏）", "1:1（方形）"]
        if ws.chinese
        else ["16:9 (landscape)", "9:16 (vertical)", "1:1 (square)"]
    )
    with state.changing():
        sess.pending_question = {"message": message, "about": about}
    args = {"question": question, "options": options, "allow_free_text": False}
    return Plan(kind="chat", steps=[], cost=0, workspace=ws, question=args)


def run_step(plan: Plan, step: Step) -> StepResult:
    """Run one step against the plan's workspace (in a worker thread). An edit that cannot be
    done leaves the state alone and its explanation replaces the step's text."""
    try:
        result = step.run(plan.workspace)
    except Abort as abort:
        step.error = abort.text
        step.done = True
        return StepResult({"status": "error", "message": abort.text}, {})
    step.done = True
    return result
