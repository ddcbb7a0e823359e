"""Edit steps: add a title, set the background-music volume, trim, change the aspect ratio."""

from __future__ import annotations

from collections.abc import Callable

from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.agent.intents import DEFAULT_TITLE_SECONDS, Intent
from nemo_mcp.emulator.agent.workspace import (
    Abort,
    Step,
    StepResult,
    Workspace,
    fmt_s,
    need_draft,
)
from nemo_mcp.emulator.config import EmulatorConfig


def edit_step(
    ws: Workspace, intent: Intent, cfg: EmulatorConfig
) -> tuple[Step, Callable[[Workspace], str]] | str:
    """One edit as a tool step plus its sentence, or a reply text when it cannot be done."""
    if intent.kind == "aspect" and intent.ratio is None:
        return ws.say(
            "Which aspect ratio would you like: 16:9 (landscape), 9:16 (vertical) or 1:1 (square)?",
            "你想要哪种画面比例：16:9（横屏）、9:16（竖屏）还是 1:1（方形）？",
        )
    if intent.kind == "title" and not intent.text:
        return ws.say(
            'What should the title say? For example: add a title "Summer Vibes" from 0 to 3 '
            "seconds.",
            "标题要写什么？例如：添加标题“夏日时光”，从0秒到3秒。",
        )
    if intent.kind == "volume" and intent.percent is None:
        return ws.say(
            "What volume should the background music have? For example: set background music "
            "volume to 30%.",
            "背景音乐音量要调到多少？例如：背景音乐音量调到30%。",
        )
    if intent.kind == "trim" and not intent.seconds:
        return ws.say(
            "How long should the video be? For example: trim to 15 seconds.",
            "视频要裁剪到多长？例如：裁剪到15秒。",
        )

    if intent.kind == "title":
        text = str(intent.text)
        start = intent.start if intent.start is not None else 0.0
        end = intent.end if intent.end is not None else start + DEFAULT_TITLE_SECONDS

        def run_title(w: Workspace) -> StepResult:
            if w.draft is None:
                raise Abort(need_draft(w))
            seg = dr.add_title(w.draft, text, int(start * 1000), int(end * 1000))
            w.notes["title_span"] = (seg["s"] / 1000, (seg["s"] + seg["d"]) / 1000)
            return StepResult({"status": "success", "segment_id": seg["id"]}, w.delta("draft"))

        def title_text(w: Workspace) -> str:
            a, b = w.notes.get("title_span", (start, end))
            return w.say(
                f'I added the title "{text}" from {fmt_s(a)}s to {fmt_s(b)}s.',
                f"已添加标题“{text}”，显示时间 {fmt_s(a)} 秒到 {fmt_s(b)} 秒。",
            )

        args = {"action": "add_title", "text": text, "start": start, "end": end}
        return Step("edit_multitrack", args, cfg.edit_seconds, False, run_title), title_text

    if intent.kind == "volume":
        percent = int(intent.percent or 0)

        def run_volume(w: Workspace) -> StepResult:
            if w.draft is None:
                raise Abort(need_draft(w))
            if not dr.set_music_volume(w.draft, percent):
                raise Abort(
                    w.say(
                        "There's no background music on the timeline yet. Ask me to generate a "
                        "background track first.",
                        "时间线上还没有背景音乐。可以先让我生成一段背景音乐。",
                    )
                )
            return StepResult({"status": "success", "volume": percent}, w.delta("draft"))

        def volume_text(w: Workspace) -> str:
            return w.say(
                f"Background music volume is now {percent}%.",
                f"背景音乐音量已调整为 {percent}%。",
            )

        args = {"action": "set_volume", "track": "bgm", "volume": percent}
        return Step("edit_multitrack", args, cfg.edit_seconds, False, run_volume), volume_text

    if intent.kind == "trim":
        seconds = float(intent.seconds or 0)

        def run_trim(w: Workspace) -> StepResult:
            if w.draft is None or not dr.is_ready(w.draft):
                raise Abort(need_draft(w))
            current = int(w.draft.get("d") or dr.end_ms(w.draft))
            if seconds * 1000 >= current:
                raise Abort(
                    w.say(
                        f"The video is already {fmt_s(current / 1000)} seconds long, so there "
                        "is nothing to trim.",
                        f"视频目前只有 {fmt_s(current / 1000)} 秒，不需要裁剪。",
                    )
                )
            dr.trim(w.draft, round(seconds * 1000))
            return StepResult({"status": "success", "duration": seconds}, w.delta("draft"))

        def trim_text(w: Workspace) -> str:
            return w.say(
                f"Trimmed the video to {fmt_s(seconds)} seconds.",
                f"已将视频裁剪到 {fmt_s(seconds)} 秒。",
            )

        args = {"action": "trim", "duration": seconds}
        return Step("edit_multitrack", args, cfg.edit_seconds, False, run_trim), trim_text

    ratio = str(intent.ratio)

    def run_aspect(w: Workspace) -> StepResult:
        width, height = dr.ASPECTS[ratio]
        w.canvas.update(width=width, height=height, aspect_ratio=ratio)
        keys = ["canvas_config"]
        if w.draft is not None:
            dr.set_aspect(w.draft, ratio)
            keys.append("draft")
        return StepResult({"status": "success", "aspect_ratio": ratio}, w.delta(*keys))

    def aspect_text(w: Workspace) -> str:
        width, height = dr.ASPECTS[ratio]
        return w.say(
            f"Changed the aspect ratio to {ratio} ({width}x{height}).",
            f"画面比例已改为 {ratio}（{width}x{height}）。",
        )

    args = {"action": "set_aspect_ratio", "ratio": ratio}
    return Step("edit_multitrack", args, cfg.edit_seconds, False, run_aspect), aspect_text
