"""The emulator's editing agent: a deterministic, rule-based stand-in for NemoVideo's.

It understands, in English and Chinese:

- a music video synced to an uploaded song ("music video", "MV", 音乐视频, 卡点);
- a promo video of N seconds from uploaded photos (and a voiceover) with transitions
  ("promo", "turn these photos ... into a video", 宣传视频);
- an N-second background track from a mood prompt ("background music", "BGM", 背景音乐), synthesised
  as a real MP3;
- edits: add a title "X" from a to b seconds (添加标题), set the background-music volume to N%
  (背景音乐音量), trim to N seconds (裁剪), change the aspect ratio 16:9 / 9:16 / 1:1 (比例);
- "export", "status", and anything else (a helpful reply listing what it can do).

With ``agent_questions`` on, it asks instead of guessing, as NemoVideo's agent can: a promo with
no aspect ratio, or an aspect change without one, becomes an ``ask_question`` call (long-running,
with the question and its options) and the turn stops; the next message answers it (a ratio in
it resumes the request it was about).

:func:`plan_turn` turns a message into a :class:`Plan`: tool steps (each a function call, some
real work in a worker thread, and a function response whose ``stateDelta`` carries the change)
followed by a final text written for a GUI ("preview it in the timeline", "click Export").
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_VIDEO
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator import media, synth
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.state import EmulatorState, Media, Session

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

DEFAULT_PROMO_SECONDS: Final = 30.0
DEFAULT_MUSIC_SECONDS: Final = 30.0
MIN_SECONDS: Final = 2.0
MAX_SECONDS: Final = 600.0
DEFAULT_TITLE_SECONDS: Final = 3.0
PROMO_BGM_VOLUME: Final = 25
ADDED_BGM_VOLUME: Final = 40
CROSSFADE_MS: Final = 600
FADE_IN_MS: Final = 400
AUDIO_FADE_OUT_MS: Final = 1500
BEATS_PER_BAR: Final = 4
MIN_CUT_SECONDS: Final = 1.5

# --- parsing ------------------------------------------------------------------------------------
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


def _ratio(text: str) -> str | None:
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
    ratio = _ratio(unquoted)
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


# --- plans --------------------------------------------------------------------------------------
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


def silent_by_hash(session_id: str, turn: int, percent: int) -> bool:
    digest = hashlib.sha256(f"{session_id}:{turn}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


GUI_HINT_EN: Final = "Preview it in the timeline, then click Export to download your video."
GUI_HINT_ZH: Final = "可以在时间线中预览，然后点击「导出」下载视频。"


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.0f}" if abs(seconds - round(seconds)) < 0.05 else f"{seconds:.1f}"


def _clamp_seconds(value: float) -> float:
    return max(MIN_SECONDS, min(value, MAX_SECONDS))


def _canvas_size(ws: Workspace) -> tuple[int, int]:
    return int(ws.canvas.get("width") or 1920), int(ws.canvas.get("height") or 1080)


def _new_draft(ws: Workspace, title: str) -> dr.Draft:
    width, height = _canvas_size(ws)
    return dr.new_draft(title, width=width, height=height)


def _src_fields(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "src": info.get("url") or info.get("cdn_url"),
        "mid": info.get("media_id"),
        "name": info.get("filename"),
    }


def _register_generated_audio(
    ws: Workspace, seconds: float, mood: str, bpm: float | None
) -> dict[str, Any]:
    """Synthesise a track, store it as session media, and describe it for generated_media."""
    name = f"{mood}_background_{_fmt_s(seconds)}s.mp3"
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


# --- generation steps ---------------------------------------------------------------------------
def _music_video_steps(ws: Workspace, intent: Intent, cfg: EmulatorConfig) -> list[Step] | str:
    songs = ws.uploads("audio")
    if not songs:
        return ws.say(
            "To make a music video I need your song first. Upload an MP3 or WAV (and, if you "
            "like, some photos or clips for the visuals), then ask again.",
            "制作音乐视频需要先上传歌曲。请上传 MP3 或 WAV 文件"
            "（也可以上传一些照片或视频片段作为画面），然后再告诉我。",
        )
    song = songs[-1]
    song_path = ws.path_of(song)
    visuals = [v for v in ws.video_infos if v.get("file_type") in ("image", "video")]

    def analyze(w: Workspace) -> StepResult:
        bpm = media.estimate_bpm(song_path) if song_path else None
        bpm = bpm or 120.0
        analysis = {
            "type": "audio",
            "filename": song.get("filename"),
            "bpm": bpm,
            "beats_per_bar": BEATS_PER_BAR,
            "duration": song.get("duration"),
        }
        w.analyses[str(song.get("media_id"))] = analysis
        w.notes["bpm"] = bpm
        return StepResult({"status": "success", **analysis}, w.delta("video_analyses"))

    def generate(w: Workspace) -> StepResult:
        bpm = float(w.notes.get("bpm") or 120.0)
        song_seconds = float(song.get("duration") or DEFAULT_MUSIC_SECONDS)
        total = _clamp_seconds(min(intent.seconds or song_seconds, song_seconds))
        total_ms = round(total * 1000)
        bar = BEATS_PER_BAR * 60.0 / bpm
        cut = bar if bar >= MIN_CUT_SECONDS else 2 * bar
        cut_ms = max(round(cut * 1000), 500)
        title = Path(str(song.get("filename") or "Music video")).stem
        d = _new_draft(w, title)
        main = dr.track(d, TRACK_VIDEO, "main", "Video")
        t, i = 0, 0
        while t < total_ms:
            seg_d = min(cut_ms, total_ms - t)
            seg: dict[str, Any] = {"id": dr.new_id("seg"), "s": t, "d": seg_d}
            if visuals:
                v = visuals[i % len(visuals)]
                seg.update(_src_fields(v))
                if v.get("file_type") == "image":
                    seg.update(type="image", fx="kenburns", fit="cover")
                else:
                    seg.update(type="video", fit="cover", vol=0)
                    clip_s = float(v.get("duration") or 0.0)
                    loops = max(int(clip_s * 1000) - seg_d, 0)
                    seg["in"] = (i * cut_ms) % loops if loops else 0
            else:
                seg.update(
                    type="visual",
                    style="waveform" if i % 2 == 0 else "gradient",
                    hue=(i * 47) % 360,
                    name=f"Generated scene {i + 1}",
                )
            seg["tr"] = "fade" if i == 0 else ("crossfade" if i % 4 == 0 else "cut")
            seg["trd"] = FADE_IN_MS if i == 0 else (300 if i % 4 == 0 else 0)
            main["sg"].append(seg)
            t += seg_d
            i += 1
        music = dr.track(d, TRACK_AUDIO, "song", "Music")
        music["sg"].append(
            {
                "id": dr.new_id("seg"),
                "type": "audio",
                "s": 0,
                "d": total_ms,
                "in": 0,
                "vol": 100,
                "fo": min(AUDIO_FADE_OUT_MS, total_ms),
                **_src_fields(song),
            }
        )
        dr.refresh_duration(d)
        w.draft = d
        w.generated.append(
            {
                "id": dr.new_id("gen"),
                "type": "video",
                "tool": "generate_music_video",
                "duration": total,
                "scenes": i,
                "bpm": bpm,
                "prompt": w.message[:300],
                "created_at": time.time(),
            }
        )
        w.notes.update(scenes=i, total=total, song=song.get("filename"))
        response = {"status": "success", "duration": total, "scenes": i, "bpm": bpm}
        return StepResult(response, w.delta("draft", "generated_media"))

    return [
        Step(
            "analyze_audio",
            {"file": song.get("filename"), "analysis": "beats"},
            cfg.edit_seconds,
            False,
            analyze,
        ),
        Step(
            "generate_music_video",
            {
                "song": song.get("filename"),
                "duration": intent.seconds,
                "visuals": len(visuals),
                "style": "beat-synced",
            },
            cfg.generation_seconds,
            True,
            generate,
        ),
    ]


def _music_video_text(ws: Workspace) -> str:
    n = ws.notes
    return ws.say(
        f"Your music video is ready: {n.get('scenes')} scenes cut to the beat of "
        f'"{n.get("song")}" ({n.get("bpm"):.0f} BPM), {_fmt_s(float(n.get("total", 0)))} seconds. '
        + GUI_HINT_EN,
        f"音乐视频已生成：按照《{n.get('song')}》的节拍（{n.get('bpm'):.0f} BPM）剪辑了 "
        f"{n.get('scenes')} 个镜头，时长 {_fmt_s(float(n.get('total', 0)))} 秒。" + GUI_HINT_ZH,
    )


def _promo_steps(ws: Workspace, intent: Intent, cfg: EmulatorConfig) -> list[Step] | str:
    visuals = [v for v in ws.video_infos if v.get("file_type") in ("image", "video")]
    if not visuals:
        return ws.say(
            "To make a promo video I need some photos or clips. Upload them (and a voiceover if "
            "you have one), then ask again.",
            "制作宣传视频需要先上传照片或视频片段（如果有配音也可以一起上传），然后再告诉我。",
        )
    voices = ws.uploads("audio")
    voice = voices[-1] if voices else None
    mood = synth.mood_of(ws.message)

    def generate(w: Workspace) -> StepResult:
        if intent.seconds:
            total = _clamp_seconds(intent.seconds)
        elif voice and voice.get("duration"):
            total = _clamp_seconds(float(voice["duration"]))
        else:
            total = DEFAULT_PROMO_SECONDS
        total_ms = round(total * 1000)
        title = w.task_name if w.task_name and w.task_name != "project" else "Promo video"
        d = _new_draft(w, title)
        main = dr.track(d, TRACK_VIDEO, "main", "Video")
        share = total_ms // len(visuals)
        for i, v in enumerate(visuals):
            start = i * share
            seg_d = total_ms - start if i == len(visuals) - 1 else share
            seg: dict[str, Any] = {"id": dr.new_id("seg"), "s": start, "d": seg_d}
            seg.update(_src_fields(v))
            if v.get("file_type") == "image":
                seg.update(type="image", fx="kenburns", fit="cover")
            else:
                seg.update(type="video", fit="cover", vol=0 if voice else 100, **{"in": 0})
            seg["tr"] = "fade" if i == 0 else "crossfade"
            seg["trd"] = FADE_IN_MS if i == 0 else min(CROSSFADE_MS, seg_d // 2)
            main["sg"].append(seg)
        if voice:
            vo = dr.track(d, TRACK_AUDIO, "voiceover", "Voiceover")
            vo_ms = min(total_ms, int(float(voice.get("duration") or total) * 1000))
            vo["sg"].append(
                {
                    "id": dr.new_id("seg"),
                    "type": "audio",
                    "s": 0,
                    "d": vo_ms,
                    "in": 0,
                    "vol": 100,
                    **_src_fields(voice),
                }
            )
        dr.refresh_duration(d)
        d["d"] = total_ms
        w.draft = d
        w.notes.update(total=total, count=len(visuals), voice=bool(voice))
        response = {
            "status": "success",
            "duration": total,
            "segments": len(visuals),
            "transitions": "crossfade",
        }
        return StepResult(response, w.delta("draft"))

    def add_bgm(w: Workspace) -> StepResult:
        assert w.draft is not None
        total = float(w.notes["total"])
        entry = _register_generated_audio(w, total, mood, None)
        bgm = dr.track(w.draft, TRACK_AUDIO, "bgm", "BGM")
        bgm["sg"] = [
            {
                "id": dr.new_id("seg"),
                "type": "audio",
                "s": 0,
                "d": round(total * 1000),
                "in": 0,
                "vol": PROMO_BGM_VOLUME if w.notes.get("voice") else 60,
                "fo": AUDIO_FADE_OUT_MS,
                "src": entry["url"],
                "mid": entry["media_id"],
                "name": entry["filename"],
            }
        ]
        w.notes["bgm"] = entry["filename"]
        response = {"status": "success", "url": entry["url"], "duration": total, "mood": mood}
        return StepResult(response, w.delta("draft", "generated_media"))

    return [
        Step(
            "generate_video",
            {
                "prompt": ws.message[:200],
                "duration": intent.seconds,
                "images": len(visuals),
                "transitions": "crossfade",
            },
            cfg.generation_seconds,
            True,
            generate,
        ),
        Step(
            "generate_music",
            {"prompt": f"{mood} background music", "duration": intent.seconds},
            cfg.generation_seconds / 2,
            True,
            add_bgm,
        ),
    ]


def _promo_text(ws: Workspace) -> str:
    n = ws.notes
    total = _fmt_s(float(n.get("total", 0)))
    if ws.chinese:
        voice = "，配上你的旁白" if n.get("voice") else ""
        return (
            f"宣传视频已生成：{n.get('count')} 个素材，{total} 秒，"
            f"带交叉淡化转场和背景音乐{voice}。" + GUI_HINT_ZH
        )
    voice = ", your voiceover" if n.get("voice") else ""
    return (
        f"Your {total}-second promo video is ready: {n.get('count')} shots with crossfade "
        f"transitions{voice} and background music. " + GUI_HINT_EN
    )


def _music_steps(ws: Workspace, intent: Intent, cfg: EmulatorConfig) -> list[Step]:
    mood = synth.mood_of(ws.message)
    existing = ws.draft if dr.is_ready(ws.draft) else None
    if intent.seconds:
        seconds = _clamp_seconds(intent.seconds)
    elif existing:
        seconds = _clamp_seconds(int(existing.get("d") or dr.end_ms(existing)) / 1000)
    else:
        seconds = DEFAULT_MUSIC_SECONDS

    def generate(w: Workspace) -> StepResult:
        entry = _register_generated_audio(w, seconds, mood, None)
        total_ms = round(seconds * 1000)
        seg = {
            "id": dr.new_id("seg"),
            "type": "audio",
            "s": 0,
            "d": total_ms,
            "in": 0,
            "fo": min(AUDIO_FADE_OUT_MS, total_ms),
            "src": entry["url"],
            "mid": entry["media_id"],
            "name": entry["filename"],
        }
        if w.draft is not None and dr.is_ready(w.draft):
            d = w.draft
            seg["d"] = min(total_ms, int(d.get("d") or dr.end_ms(d)) or total_ms)
            seg["vol"] = ADDED_BGM_VOLUME
            dr.track(d, TRACK_AUDIO, "bgm", "BGM")["sg"] = [seg]
            w.notes["added_to_draft"] = True
        else:
            d = _new_draft(w, f"{mood.capitalize()} background track")
            seg["vol"] = 100
            dr.track(d, TRACK_VIDEO, "main", "Video")["sg"].append(
                {
                    "id": dr.new_id("seg"),
                    "type": "visual",
                    "style": "waveform",
                    "hue": 210,
                    "s": 0,
                    "d": total_ms,
                    "name": "Audio visualizer",
                    "tr": "fade",
                    "trd": FADE_IN_MS,
                }
            )
            dr.track(d, TRACK_AUDIO, "bgm", "BGM")["sg"].append(seg)
            dr.refresh_duration(d)
            w.draft = d
        w.notes.update(seconds=seconds, mood=mood, bgm=entry["filename"], bpm=entry["bpm"])
        response = {
            "status": "success",
            "url": entry["url"],
            "duration": seconds,
            "mood": mood,
            "bpm": entry["bpm"],
        }
        return StepResult(response, w.delta("draft", "generated_media"))

    return [
        Step(
            "generate_music",
            {"prompt": ws.message[:200], "duration": seconds, "mood": mood},
            cfg.generation_seconds,
            True,
            generate,
        )
    ]


def _music_text(ws: Workspace) -> str:
    n = ws.notes
    secs = _fmt_s(float(n.get("seconds", 0)))
    if ws.chinese:
        where = "已作为背景音乐加入你的时间线" if n.get("added_to_draft") else "已放到时间线上"
        what = f"{secs} 秒的{n.get('mood')}风格免版税背景音乐"
        return f"已生成一段{what}（{n.get('bpm')} BPM），{where}。" + GUI_HINT_ZH
    where = (
        "and added it to your timeline as background music"
        if n.get("added_to_draft")
        else "with an audio visualizer on the timeline"
    )
    return (
        f"I generated a {secs}-second royalty-free {n.get('mood')} background track "
        f"({n.get('bpm')} BPM) {where}. " + GUI_HINT_EN
    )


# --- edit steps ---------------------------------------------------------------------------------
def _need_draft(ws: Workspace) -> str:
    return ws.say(
        "There's nothing on the timeline yet. Upload some media and ask me to create a video or "
        "a background track first.",
        "时间线上还没有内容。请先上传素材，让我生成一个视频或背景音乐。",
    )


def _edit_step(
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
                raise _Abort(_need_draft(w))
            seg = dr.add_title(w.draft, text, int(start * 1000), int(end * 1000))
            w.notes["title_span"] = (seg["s"] / 1000, (seg["s"] + seg["d"]) / 1000)
            return StepResult({"status": "success", "segment_id": seg["id"]}, w.delta("draft"))

        def title_text(w: Workspace) -> str:
            a, b = w.notes.get("title_span", (start, end))
            return w.say(
                f'I added the title "{text}" from {_fmt_s(a)}s to {_fmt_s(b)}s.',
                f"已添加标题“{text}”，显示时间 {_fmt_s(a)} 秒到 {_fmt_s(b)} 秒。",
            )

        args = {"action": "add_title", "text": text, "start": start, "end": end}
        return Step("edit_multitrack", args, cfg.edit_seconds, False, run_title), title_text

    if intent.kind == "volume":
        percent = int(intent.percent or 0)

        def run_volume(w: Workspace) -> StepResult:
            if w.draft is None:
                raise _Abort(_need_draft(w))
            if not dr.set_music_volume(w.draft, percent):
                raise _Abort(
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
                raise _Abort(_need_draft(w))
            current = int(w.draft.get("d") or dr.end_ms(w.draft))
            if seconds * 1000 >= current:
                raise _Abort(
                    w.say(
                        f"The video is already {_fmt_s(current / 1000)} seconds long, so there "
                        "is nothing to trim.",
                        f"视频目前只有 {_fmt_s(current / 1000)} 秒，不需要裁剪。",
                    )
                )
            dr.trim(w.draft, round(seconds * 1000))
            return StepResult({"status": "success", "duration": seconds}, w.delta("draft"))

        def trim_text(w: Workspace) -> str:
            return w.say(
                f"Trimmed the video to {_fmt_s(seconds)} seconds.",
                f"已将视频裁剪到 {_fmt_s(seconds)} 秒。",
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


class _Abort(Exception):
    """An edit that turned out to be impossible while running; the text explains why."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


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
            return _need_draft(ws)
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
        ratio = _ratio(message)
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
            built, text_fn = _music_video_steps(ws, first, cfg), _music_video_text
        elif gen_kind == "promo":
            built, text_fn = _promo_steps(ws, first, cfg), _promo_text
        elif gen_kind == "music":
            built, text_fn = _music_steps(ws, first, cfg), _music_text
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
                replies.append(_need_draft(ws))
                continue
            made = _edit_step(ws, intent, cfg)
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


QUESTION_TOOL: Final = "ask_question"


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
    except _Abort as abort:
        step.error = abort.text
        step.done = True
        return StepResult({"status": "error", "message": abort.text}, {})
    step.done = True
    return result
