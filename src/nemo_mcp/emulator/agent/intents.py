"""What a chat message asks for, in English or Chinese: :func:`parse_message` turns it into
:class:`Intent` s (a generation, an edit, a question about the project) with their numbers, times,
texts and ratios."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from nemo_mcp.emulator import draft as dr

IntentKind = Literal[
    "music_video",
    "promo",
    "video",
    "music",
    "title",
    "volume",
    "trim",
    "aspect",
    "export",
    "status",
    "help",
]
GENERATION_KINDS: Final = ("music_video", "promo", "video", "music")
EDIT_KINDS: Final = ("title", "volume", "trim", "aspect")

DEFAULT_TITLE_SECONDS: Final = 3.0


_ZH_DIGITS: Final = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_UNITS: Final = {"十": 10, "百": 100}
NUM: Final = r"(\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百]+)"
_SEC: Final = r"(?:s|sec|secs|second|seconds|秒|秒钟)"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def number(text: str) -> float:
    """``"30"``, ``"2.5"``, ``"三十"``, ``"一百二十"`` -> a number."""
    try:
        return float(text)
    except ValueError:
        pass
    total = 0
    current = 0
    for ch in text:
        if ch in _ZH_DIGITS:
            current = _ZH_DIGITS[ch]
        elif ch in _ZH_UNITS:
            total += (current or 1) * _ZH_UNITS[ch]
            current = 0
    return float(total + current)


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


@dataclass
class Intent:
    kind: IntentKind
    seconds: float | None = None
    text: str | None = None
    start: float | None = None
    end: float | None = None
    percent: int | None = None
    ratio: str | None = None


_RE: Final = {
    "music_video": re.compile(
        r"music[\s-]*video|\bmv\b|音乐视频|音乐短片|卡点"
        r"|synced? (?:up )?(?:to|with) (?:my|the|this) (?:song|track|music)"
        r"|visuals? (?:for|to) (?:my|the|this) (?:song|track|music)",
        re.I,
    ),
    "promo": re.compile(
        r"\bpromo(?:tional)?\b|\badvert|\bcommercial\b|\bmarketing\b|\bslide\s*show\b|宣传|推广"
        r"|广告|幻灯片|相册视频",
        re.I,
    ),
    "photos": re.compile(r"\b(?:photos?|images?|pictures?|pics?)\b|照片|图片|相片", re.I),
    "video_gen": re.compile(
        r"\b(?:make|create|generate|turn|build|produce)\b.*\bvideos?\b|(?:生成|制作|做|剪).*视频",
        re.I,
    ),
    "music": re.compile(
        r"background[\s-]*(?:music|track|song)|\bbgm\b|soundtrack|royalty[\s-]*free|backing track"
        r"|music track|背景音乐|配乐|作曲|(?:生成|创作|来一段|做一段).*(?:音乐|曲子|歌曲|旋律)",
        re.I,
    ),
    "music_gen": re.compile(
        r"\b(?:generate|create|make|compose|produce|add)\b.*\b(?:music|track|song|tune|beat|bgm)\b",
        re.I,
    ),
    "gen_verb": re.compile(
        r"\b(?:generate|create|make|compose|produce)\b|生成|创作|制作|来一段|做一段", re.I
    ),
    "volume": re.compile(
        r"\bvolume\b|\blouder\b|\bquieter\b|\bmute\b|音量|静音|声音(?:调|开|关)", re.I
    ),
    "title": re.compile(
        r"\b(?:add|put|insert|place|show|overlay|set|with)\b.*\b(?:title|caption|headline|text)\b"
        r"|^\s*title\b|标题|字幕|文字",
        re.I,
    ),
    "trim": re.compile(
        r"\b(?:trim|cut|shorten|crop)\b|裁剪|剪到|剪成|截取|缩短|剪短|时长改为|时长改成", re.I
    ),
    "aspect": re.compile(r"\baspect\b|\bratio\b|比例|画幅|画面尺寸", re.I),
    "export": re.compile(r"\bexport\b|\bdownload\b|\brender\b|导出|下载|渲染", re.I),
    "status": re.compile(
        r"\bstatus\b|show (?:me )?(?:the )?(?:tracks|timeline)|what'?s on the timeline|状态|轨道"
        r"|时间线上",
        re.I,
    ),
}
_RATIO = re.compile(r"(\d{1,2})\s*[:：/比x×]\s*(\d{1,2})")
_ORIENTATION: Final = (
    (re.compile(r"\bvertical\b|\bportrait\b|竖屏|竖版|竖向", re.I), "9:16"),
    (re.compile(r"\bsquare\b|正方形|方形", re.I), "1:1"),
    (re.compile(r"\blandscape\b|\bhorizontal\b|\bwidescreen\b|横屏|横版|横向", re.I), "16:9"),
)
_QUOTED = (
    re.compile(r'"([^"]+)"'),
    re.compile(r"“([^”]+)”"),
    re.compile(r"「([^」]+)」"),
    re.compile(r"『([^』]+)』"),
    re.compile(r"《([^》]+)》"),
    re.compile(r"‘([^’]+)’"),
    re.compile(r"(?:^|[\s:：(（])'([^']+)'"),
)
_TITLE_BARE_EN = re.compile(
    r"\b(?:title|caption|headline|text)\b\s*(?:called|saying|that says|reading|of|as|:)?\s*"
    r"(.+?)\s*(?:\bfrom\b|\bat\b|\bbetween\b|\bfor the first\b|\bin the first\b|[,.;!]|$)",
    re.I,
)
_TITLE_BARE_ZH = re.compile(
    r"(?:标题|字幕|文字)\s*(?:为|是|叫|:|：)?\s*(.+?)\s*(?:[，,。；;！!]|从|在|前\s*\d|$)"
)
_RANGES: Final = (
    re.compile(
        rf"from\s+(?:the\s+)?{NUM}\s*{_SEC}?\s*(?:to|until|till|through|-|–)\s*{NUM}\s*{_SEC}?",
        re.I,
    ),
    re.compile(rf"between\s+{NUM}\s*{_SEC}?\s*and\s+{NUM}", re.I),
    re.compile(
        rf"(?:从)?\s*第?\s*{NUM}\s*{_SEC}?\s*(?:到|至|-|~|—|–)\s*第?\s*{NUM}\s*{_SEC}", re.I
    ),
)
_FIRST_N = re.compile(rf"(?:\bfirst\s+|前\s*){NUM}\s*{_SEC}", re.I)
_AT_N = re.compile(
    rf"(?:\bat\s+|\bstarting at\s+|在\s*第?\s*){NUM}\s*{_SEC}(?:\s*(?:for|持续)\s*{NUM}\s*{_SEC})?",
    re.I,
)
_DURATION = re.compile(rf"{NUM}\s*-?\s*(?:{_SEC}|(minutes?|mins?|分钟))(?![a-z])", re.I)
_PERCENT = (
    re.compile(rf"{NUM}\s*(?:%|％|percent\b)", re.I),
    re.compile(rf"百分之\s*{NUM}"),
    re.compile(rf"\b(?:to|at)\s+{NUM}\b(?!\s*{_SEC})", re.I),
    re.compile(rf"(?:调到|调成|设为|设置为|改为|改成|到)\s*{NUM}(?!\s*秒)"),
)


def _strip_quotes(text: str) -> tuple[str, str | None]:
    for pattern in _QUOTED:
        m = pattern.search(text)
        if m:
            return text[: m.start(1)] + " " + text[m.end(1) :], m.group(1).strip()
    return text, None


def first_duration(text: str) -> float | None:
    m = _DURATION.search(text)
    if not m:
        return None
    value = number(m.group(1))
    return value * 60.0 if m.group(2) else value


def _time_range(text: str) -> tuple[float | None, float | None]:
    for pattern in _RANGES:
        m = pattern.search(text)
        if m:
            return number(m.group(1)), number(m.group(2))
    m = _FIRST_N.search(text)
    if m:
        return 0.0, number(m.group(1))
    m = _AT_N.search(text)
    if m:
        start = number(m.group(1))
        length = number(m.group(2)) if m.group(2) else DEFAULT_TITLE_SECONDS
        return start, start + length
    return None, None


def _title_text(text: str, quoted: str | None) -> str | None:
    if quoted:
        return quoted
    m = _TITLE_BARE_EN.search(text)
    if m and m.group(1).strip():
        bare = m.group(1).strip()
        if bare.lower() not in ("a", "the", "a title", "title"):
            return re.sub(r"^(?:a|the)\s+", "", bare, flags=re.I)[:80]
    m = _TITLE_BARE_ZH.search(text)
    if m and m.group(1).strip():
        return m.group(1).strip()[:80]
    return None


def _percent(text: str) -> int | None:
    if re.search(r"\bmute\b|静音", text, re.I):
        return 0
    for pattern in _PERCENT:
        m = pattern.search(text)
        if m:
            return int(max(0.0, min(number(m.group(1)), 100.0)))
    return None


def ratio_in(text: str) -> str | None:
    for m in _RATIO.finditer(text):
        name = f"{int(m.group(1))}:{int(m.group(2))}"
        if name in dr.ASPECTS:
            return name
    for pattern, name in _ORIENTATION:
        if pattern.search(text):
            return name
    return None


def parse_message(text: str) -> list[Intent]:
    """The intents in one user message: at most one generation, then any edits, else info."""
    unquoted, quoted = _strip_quotes(text)
    intents: list[Intent] = []
    has_volume = bool(_RE["volume"].search(unquoted))
    wants_title = bool(_RE["title"].search(unquoted))
    seconds = first_duration(unquoted)

    generation: IntentKind | None = None
    if _RE["music_video"].search(unquoted):
        generation = "music_video"
    elif _RE["promo"].search(unquoted) or (
        _RE["photos"].search(unquoted) and _RE["video_gen"].search(unquoted)
    ):
        generation = "promo"
    elif (_RE["music"].search(unquoted) or _RE["music_gen"].search(unquoted)) and (
        not has_volume or _RE["gen_verb"].search(unquoted)
    ):
        generation = "music"
    elif _RE["video_gen"].search(unquoted) and not wants_title:
        generation = "video"
    if generation is not None:
        range_start, _ = _time_range(unquoted) if wants_title else (None, None)
        gen_seconds = seconds if range_start is None else None
        intents.append(Intent(generation, seconds=gen_seconds, text=text))

    if wants_title:
        start, end = _time_range(unquoted)
        title = _title_text(unquoted, quoted)
        intents.append(Intent("title", text=title, start=start, end=end))
    if has_volume:
        intents.append(Intent("volume", percent=_percent(unquoted)))
    if _RE["trim"].search(unquoted) and generation is None:
        intents.append(Intent("trim", seconds=seconds))
    ratio = ratio_in(unquoted)
    explicit = bool(_RE["aspect"].search(unquoted) or _RATIO.search(unquoted))
    if ratio and (explicit or generation or not intents):
        intents.append(Intent("aspect", ratio=ratio))
    elif _RE["aspect"].search(unquoted) and not ratio:
        intents.append(Intent("aspect", ratio=None))

    if not intents:
        if _RE["export"].search(unquoted):
            intents.append(Intent("export"))
        elif _RE["status"].search(unquoted):
            intents.append(Intent("status"))
        else:
            intents.append(Intent("help"))
    return intents
