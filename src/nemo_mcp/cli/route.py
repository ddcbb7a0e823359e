"""Route a user's free text to the operation that serves it without a chat turn, or to chat.

The seeds' routing table (export / credits / state / upload skip the agent stream; everything
else goes to it), made word-boundary aware and a little careful about near-misses:

- a local media path in the text means upload (the paths are returned);
- an upload request comes first when it is the first thing asked ("upload my song and make a
  video" is an upload, then a chat turn);
- any edit or creation request ("add", "make", "生成", ...) goes to chat, even next to an export
  word: the edit has to happen before an export can include it;
- export / credits / state need an imperative or a question aimed at them ("export it", "what's
  my balance", "show the tracks"), not just the word ("exported footage of my trip", "add end
  credits", "balance the audio").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from nemo_mcp.contract.media import SUPPORTED_EXTENSIONS

__all__ = ["Intent", "Route", "extract_paths", "route"]

Intent = Literal["export", "credits", "state", "upload", "chat"]


@dataclass(frozen=True, slots=True)
class Route:
    intent: Intent
    paths: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


_EXT = "(?:" + "|".join(sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True)) + ")"
_EXT_END = r"\." + _EXT + r"(?![A-Za-z0-9_])"
_URL = re.compile(r"(?i)\b(?:https?|file)://[^\s\"'<>，。！？]+")
_QUOTED_PATH = re.compile(r"(?i)[\"'“‘`]([^\"'”’`\n]{1,1024}" + _EXT_END + r")[\"'”’`]")
_PATH_CHARS = r"[^\"'<>|，。！？；：\n]"
_ROOTED = r"(?:~|\.{1,2})?[/\\](?=[^\s/\\])" + _PATH_CHARS + r"{0,1024}?" + _EXT_END
_DRIVE = r"[A-Za-z]:[/\\]" + _PATH_CHARS + r"{0,1024}?" + _EXT_END
_NAME = r"[\w\-][\w\-.]{0,200}?" + _EXT_END
_BARE_PATH = re.compile(r"(?i)(?<![\w/\\.:@~-])(" + _ROOTED + "|" + _DRIVE + "|" + _NAME + ")")

_CREATE_EN = re.compile(
    r"(?i)\b(?:make|create|generate|add|edit|change|cut|trim|remove|delete|replace|put|turn|"
    r"convert|apply|insert|mix|compose|write|shorten|lengthen|extend|speed|slow|crop|resize|swap|"
    r"set|adjust|increase|decrease|lower|raise|fade|move|sync|animate|render\s+a|produce|"
    r"combine|merge|split|rearrange|reorder|mute|boost|transform|design|film)\b"
)
_CREATE_ZH = re.compile(
    r"做|制作|生成|添加|加上|加入|加个|加一|剪辑|编辑|修改|改成|改为|换成|替换|删除|去掉|删掉|"
    r"配乐|创作|合成|调整|调高|调低|裁剪|剪掉|缩短|延长|插入|移动|变成"
)
_UPLOAD = re.compile(r"(?i)\bupload\b|(?<!已)上传(?![的了过])")
_EXPORT = re.compile(
    r"(?i)^\W*(?:please\s+|pls\s+|now\s+)?(?:export|download|render)\b"
    r"|\b(?:export|download|render)\s+(?:it|this|that|now|again|my\s+(?:video|project|edit)|"
    r"the\s+(?:video|mp4|result|file|final|project|clip|movie|edit|whole\s+thing))\b"
    r"|\b(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:export|download|render)\b"
    r"|\b(?:i|we)\s*(?:want|need|would\s+like|'d\s+like|wanna)\s+(?:to\s+)?"
    r"(?:export|download)\b"
    r"|\b(?:let'?s|time\s+to|ready\s+to|go\s+ahead\s+and)\s+(?:export|download|render)\b"
    r"|\b(?:send|give)\s+me\s+(?:the\s+|my\s+)?(?:final\s+)?(?:video|mp4|file|result|movie|clip)\b"
    r"|\b(?:export|download)\W*$"
)
_EXPORT_ZH = re.compile(r"导出(?!的|过|了的)|下载(?:视频|成片|文件|一下|吧|$)|发给我|把视频给我")
_CREDITS = re.compile(
    r"(?i)^\W*(?:credits?|balance)\W*$"
    r"|\b(?:how\s+many|check|show|see|remaining|left|my|much|get|view)\b[\w\s']{0,20}?"
    r"(?<!end\s)(?<!opening\s)(?<!closing\s)(?<!rolling\s)"
    r"\bcredits?\b(?!\s+(?:scene|roll|sequence|screen|music|song|text|title))"
    r"|\bcredits?\s+(?:left|remaining|balance|do\s+i\s+have)\b"
    r"|\b(?:my|account|credit|wallet|remaining)\s+balance\b"
    r"|\bbalance\s+(?:left|remaining)\b"
    r"|\b(?:what'?s|what\s+is|check|show)\s+(?:the\s+|my\s+)?balance\b(?!\s+(?:of|between))"
)
_CREDITS_ZH = re.compile(r"积分|余额|点数")
_STATE = re.compile(
    r"(?i)^\W*(?:status|state|progress|tracks|timeline)\W*$"
    r"|\b(?:check|show|get|see|view|what'?s|what\s+is|how'?s|how\s+is)\s+(?:me\s+)?"
    r"(?:the\s+|my\s+)?(?:current\s+|project\s+|session\s+)?(?:status|state|progress)\b"
    r"|\b(?:project|session|timeline|draft)\s+(?:status|state)\b"
    r"|\b(?:show|list|see|view|display)\s+(?:me\s+)?(?:the\s+|my\s+|all\s+)?(?:current\s+)?"
    r"(?:tracks|timeline|draft|project)\b"
    r"|\bwhat'?s\s+(?:on|in)\s+(?:the\s+|my\s+)?timeline\b"
    r"|\bwhat\s+(?:is|does)\s+(?:on|in)\s+(?:the\s+|my\s+)?timeline\b"
)
_STATE_ZH = re.compile(
    r"状态|进度|查看(?:时间线|时间轴|轨道|项目|草稿)|显示(?:轨道|时间线)|看看(?:时间线|轨道)"
)
_POLITE: Final = re.compile(r"(?i)^\W*(?:please|pls|hey|hi|ok(?:ay)?|so|now|then|and)\b\W*")


def extract_paths(text: str) -> tuple[list[str], list[str]]:
    """(local media paths, URLs) mentioned in ``text``, in order, without duplicates."""
    urls: list[str] = []
    paths: list[str] = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?)]}")
        if url.lower().startswith("file://"):
            local = url[len("file://") :]
            if re.search(_EXT_END + "$", local, re.IGNORECASE) and local not in paths:
                paths.append(local)
        elif url not in urls:
            urls.append(url)
    rest = _URL.sub(" ", text)
    for match in _QUOTED_PATH.finditer(rest):
        candidate = match.group(1).strip()
        if candidate and candidate not in paths:
            paths.append(candidate)
    rest = _QUOTED_PATH.sub(" ", rest)
    for match in _BARE_PATH.finditer(rest):
        candidate = match.group(1).strip()
        if candidate and candidate not in paths:
            paths.append(candidate)
    return paths, urls


def _first(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return match.start() if match else None


def route(text: str) -> Route:
    """Decide what ``text`` asks for. Case-insensitive, word-boundary aware, English and Chinese."""
    paths, urls = extract_paths(text)
    if paths:
        return Route("upload", paths, urls)
    body = _POLITE.sub("", text.strip())
    create = min(
        (p for p in (_first(_CREATE_EN, body), _first(_CREATE_ZH, body)) if p is not None),
        default=None,
    )
    upload = _first(_UPLOAD, body)
    if upload is not None and (create is None or upload < create):
        return Route("upload", [], urls)
    if create is not None:
        return Route("chat", [], urls)
    if _EXPORT.search(body) or _EXPORT_ZH.search(body):
        return Route("export", [], urls)
    if _CREDITS.search(body) or _CREDITS_ZH.search(body):
        return Route("credits", [], urls)
    if _STATE.search(body) or _STATE_ZH.search(body):
        return Route("state", [], urls)
    return Route("chat", [], urls)
