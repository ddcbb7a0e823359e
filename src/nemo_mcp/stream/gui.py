"""Rewrite the editing agent's GUI phrasing into what the user can actually do here.

The NemoVideo agent answers as if the user sat in its web editor ("click Export", "drag the clip
onto the timeline", "点击导出"). Over MCP or in a terminal there is no such button, so the
phrases are replaced by the matching tool (face ``"mcp"``) or command (face ``"cli"``), and the
actions found are returned as :class:`SuggestedAction` objects.

Only GUI *instructions* are rewritten: a verb aimed at an interface element ("click the Export
button", "open the timeline", "preview it in the timeline"). Ordinary words are left alone
("clickbait", "a click track", "opened up new possibilities", "a preview of the chorus").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from nemo_mcp.faces import COMMANDS, Face, Tool

__all__ = ["ACTIONS", "Action", "SuggestedAction", "Translated", "translate"]

Action = Literal["export", "state", "chat", "upload", "credits"]


@dataclass(frozen=True, slots=True)
class SuggestedAction:
    action: Action
    label: str
    tool: str
    command: str


@dataclass(frozen=True, slots=True)
class Translated:
    text: str
    actions: list[SuggestedAction] = field(default_factory=list)


ACTIONS: Final[dict[Action, SuggestedAction]] = {
    "export": SuggestedAction(
        "export",
        "Export the video (render and download the MP4)",
        Tool.EXPORT,
        COMMANDS[Tool.EXPORT],
    ),
    "state": SuggestedAction("state", "Show the timeline", Tool.STATE, COMMANDS[Tool.STATE]),
    "chat": SuggestedAction(
        "chat", "Ask the editing agent for a change", Tool.CHAT, f'{COMMANDS[Tool.CHAT]} "..."'
    ),
    "upload": SuggestedAction(
        "upload", "Upload a media file", Tool.UPLOAD, f"{COMMANDS[Tool.UPLOAD]} FILE"
    ),
    "credits": SuggestedAction("credits", "Check credits", Tool.CREDITS, COMMANDS[Tool.CREDITS]),
}


def _ref(action: Action, face: Face) -> str:
    spec = ACTIONS[action]
    return f"`{spec.tool}`" if face == "mcp" else f"`{spec.command}`"


# Replacement phrases. "verb": an imperative phrase; "noun": the tool/command itself.
def _phrase(action: Action, form: str, face: Face, label: str = "") -> str:
    ref = _ref(action, face)
    if form == "noun":
        return ref
    if form == "move":
        return f"ask {ref} to move"
    if form == "zh_move":
        return f"通过 {ref} 让助手移动"
    if form == "zh":
        return {
            "export": f"用 {ref} 导出",
            "state": f"用 {ref} 查看时间线",
            "chat": f"用 {ref} 告诉助手",
            "upload": f"用 {ref} 上传",
            "credits": f"用 {ref} 查看积分",
        }[action]
    if form == "zh_label":
        return f"用 {ref} 让助手执行「{label}」"
    if form == "label":
        return f"ask for {label} with {ref}"
    return {
        "export": f"call {ref}" if face == "mcp" else f"run {ref}",
        "state": f"check the timeline with {ref}",
        "chat": f"ask for it with {ref}",
        "upload": f"upload the file with {ref}",
        "credits": f"check your credits with {ref}",
    }[action]


_Q_OPEN = "[\"'“‘「『]"
_Q_CLOSE = "[\"'”’」』]"
_CLICK = r"\b(?i:click|tap|press|hit|select)(?:\s+(?i:on))?\s+(?:(?i:the)\s+)?"
_ZH_CLICK = r"(?:请)?点击(?:一下)?(?:[^，。！？\n“\"「]{0,8}?的)?"
_OBJECT = (
    r"(?i:it|this|that|them|the\s+(?:video|result|edit|edits|changes?|clip|draft|project)"
    r"|your\s+(?:video|edit|edits|project|changes?))"
)

# (group name, pattern, action, form). Earlier rules win when two match at the same place.
_RULES: Final[tuple[tuple[str, str, Action, str], ...]] = (
    # --- English ---------------------------------------------------------------------------------
    (
        "ex_click",
        _CLICK
        + _Q_OPEN
        + r"?(?i:export|download)(?:\s+(?i:video|now|mp4|file))?"
        + _Q_CLOSE
        + r"?(?:\s+(?i:button|icon|link|option|menu))?(?![\w])",
        "export",
        "verb",
    ),
    (
        "ex_open",
        r"\b(?i:open|go\s+to)\s+(?:(?i:the)\s+)?(?i:export|download)\s+"
        r"(?i:panel|menu|dialog|window|page|tab)\b",
        "export",
        "verb",
    ),
    (
        "up_click",
        _CLICK + _Q_OPEN + r"?(?i:upload)" + _Q_CLOSE + r"?(?:\s+(?i:button|icon|area))?(?![\w])",
        "upload",
        "verb",
    ),
    (
        "up_drop",
        r"\b(?i:drag(?:\s*(?:and|&|-and-)\s*drop)?|drop)\s+(?:(?i:your|the|a|an|any|some)\s+)?"
        r"(?i:files?|videos?|audio(?:\s+files?)?|songs?|media|images?|photos?|footage|music)\s+"
        r"(?i:here|in\s+here|into\s+(?:the\s+)?(?:upload\s+area|chat|window|box|page))\b",
        "upload",
        "verb",
    ),
    (
        "pv_click",
        _CLICK + _Q_OPEN + r"?(?i:preview|play)" + _Q_CLOSE + r"?(?:\s+(?i:button|icon))?(?![\w])",
        "state",
        "verb",
    ),
    (
        "pv_timeline",
        r"\b(?i:preview)(?:\s+" + _OBJECT + r")?\s+(?i:in|on)\s+(?:(?i:the)\s+)?"
        r"(?i:timeline|editor|player)\b",
        "state",
        "verb",
    ),
    ("pv_object", r"\b(?i:preview)\s+" + _OBJECT + r"\b", "state", "verb"),
    (
        "open_ui",
        r"\b(?i:open)(?:\s+(?i:up))?\s+(?:(?i:the|your)\s+)?(?i:timeline|editor|project|draft|"
        r"media\s+library|assets?\s+(?:panel|library)|preview(?:\s+window)?|workspace)\b",
        "state",
        "verb",
    ),
    (
        "ex_widget",
        r"\b(?:(?i:the)\s+)?"
        + _Q_OPEN
        + r"?(?i:export|download)"
        + _Q_CLOSE
        + r"?\s+(?i:button|icon|panel|menu|link|tab|page)\b",
        "export",
        "noun",
    ),
    ("ex_quoted", _Q_OPEN + r"(?:Export|Download)" + _Q_CLOSE, "export", "noun"),
    (
        "pv_widget",
        r"\b(?:(?i:the)\s+)?(?i:preview)\s+(?i:window|panel|player|pane|button)\b",
        "state",
        "noun",
    ),
    ("up_widget", r"\b(?:(?i:the)\s+)?(?i:upload)\s+(?i:button|area|box|zone)\b", "upload", "noun"),
    (
        "drag_move",
        r"\b(?i:drag)(?:\s*(?i:and|&|-and-)\s*(?i:drop))?(?=\s+(?i:it|them|the|your|this|that|"
        r"these|those|a|an|each|clips?)\b)",
        "chat",
        "move",
    ),
    (
        "click_label",
        r"\b(?i:click|tap)(?:\s+(?i:on))?\s+(?:(?i:the)\s+)?(?P<label>"
        + _Q_OPEN
        + r"[^\"'”’」』\n]{1,40}"
        + _Q_CLOSE
        + r"|[A-Z][\w-]*(?:[ ][A-Z][\w-]*){0,3})(?:\s+(?i:button|icon|tab|option))?",
        "chat",
        "label",
    ),
    # --- Chinese ---------------------------------------------------------------------------------
    (
        "zh_ex_click",
        _ZH_CLICK + _Q_OPEN + r"?(?:导出|下载)(?:视频|成片)?" + _Q_CLOSE + r"?(?:按钮)?",
        "export",
        "zh",
    ),
    (
        "zh_up",
        _ZH_CLICK + _Q_OPEN + r"?上传" + _Q_CLOSE + r"?(?:按钮)?"
        r"|(?:拖拽|拖动|拖放|拖入)(?:你的|您的)?(?:文件|视频|音频|素材|歌曲|图片)(?:到这里|到此处|进来)",
        "upload",
        "zh",
    ),
    (
        "zh_pv",
        r"(?:点击)?(?:在时间线(?:上|中|里)?)?预览(?:一下)?(?:效果|视频|成片)?(?!版)",
        "state",
        "zh",
    ),
    ("zh_open", r"打开(?:时间线|时间轴|编辑器|项目|草稿|素材库|预览窗口)", "state", "zh"),
    ("zh_ex_widget", r"(?:导出|下载)按钮", "export", "noun"),
    ("zh_drag", r"拖(?:拽|动|放|入)?(?=到)|拖拽|拖动|拖放|拖入", "chat", "zh_move"),
    (
        "zh_click",
        r"点击" + _Q_OPEN + r"(?P<zlabel>[^\"'”’」』\n]{1,20})" + _Q_CLOSE + r"(?:按钮)?"
        r"|点击(?P<zlabel2>[^\s，。！？、“\"「]{1,8}?)按钮",
        "chat",
        "zh_label",
    ),
)

_RULE_INFO: Final = {name: (action, form) for name, _, action, form in _RULES}
_PATTERN = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern, _, _ in _RULES))

# Mentions that suggest an action without being rewritten.
_MENTIONS: Final[tuple[tuple[re.Pattern[str], Action], ...]] = (
    (re.compile(r"\b(?i:export|download)\b|导出|下载"), "export"),
    (re.compile(r"\b(?i:upload)\b|上传"), "upload"),
    (re.compile(r"\b(?i:credits?)\b|积分|余额"), "credits"),
)


def _match_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and replacement[:1].islower():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def translate(text: str, face: Face = "mcp") -> Translated:
    """Rewrite GUI instructions for ``face`` and list the actions they point at, in order."""
    found: list[tuple[int, Action]] = []

    def replace(match: re.Match[str]) -> str:
        name = match.lastgroup or ""
        action, form = _RULE_INFO.get(name, ("chat", "verb"))
        found.append((match.start(), action))
        label = match.group("label") if name == "click_label" else ""
        if name == "zh_click":
            label = match.group("zlabel") or match.group("zlabel2") or ""
            label = label.strip("\"'“”‘’「」『』")
        return _match_case(match.group(0), _phrase(action, form, face, label))

    rewritten = _PATTERN.sub(replace, text)
    for pattern, action in _MENTIONS:
        hit = pattern.search(text)
        if hit:
            found.append((hit.start(), action))
    seen: list[Action] = []
    for _, action in sorted(found, key=lambda item: item[0]):
        if action not in seen:
            seen.append(action)
    return Translated(rewritten, [ACTIONS[a] for a in seen])
