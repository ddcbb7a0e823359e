"""The timeline draft in the contract's abbreviated form, and the edits the agent makes to it.

Draft::

    {"t": [TRACK, ...], "d": <total ms>,
     "m": {"title", "width", "height", "fps", "ratio", "bg"}}

Track::

    {"id": "trk_...", "tt": 0 | 1 | 7, "n": <name>, "role": <role>, "sg": [SEGMENT, ...]}
        tt 0 = video, 1 = audio, 7 = text. role: "main" (video), "song" | "bgm" | "voiceover"
        (audio), "title" (text).

Segment (times in ms on the timeline)::

    common   id, type, s (start), d (duration), name
    video    type "image" | "video" | "color" | "visual"
             src (media URL), mid (media id), in (source in-point, ms),
             fx "kenburns" | "none", tr "cut" | "crossfade" | "fade" (transition into the
             segment), trd (transition ms), fit "cover" | "contain",
             vol 0-100 (a clip's own sound; absent or 0 = muted),
             color "#rrggbb" (type color), style "gradient" | "waveform" and hue 0-360
             (type visual: a generated animated background)
    audio    type "audio", src, mid, in, vol 0-100, fi / fo (fade in / out ms)
    text     type "text", text, pos "center" | "top" | "bottom", size (px at 1080 lines),
             color "#rrggbb"

Media URLs are kept relative (``/cdn/media/<mid>/<name>``) inside the emulator and made absolute
(:func:`absolutize`) in every response; a draft sent back for rendering may carry either form.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_TEXT, export_ready, json_tracks_have_segments
from nemo_mcp.emulator.config import DEFAULT_HEIGHT, DEFAULT_WIDTH, RENDER_FPS

Draft = dict[str, Any]
Track = dict[str, Any]
Segment = dict[str, Any]

CDN_PREFIX: Final = "/cdn/"
DEFAULT_BG: Final = "#0b0b14"
TITLE_SIZE: Final = 96  # px at 1080 lines

ASPECTS: Final[dict[str, tuple[int, int]]] = {
    "16:9": (1920, 1080),
    "9:16": (1080, 1920),
    "1:1": (1080, 1080),
    "4:3": (1440, 1080),
    "3:4": (1080, 1440),
    "4:5": (1080, 1350),
}
MUSIC_ROLES: Final = ("bgm", "song")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def new_draft(
    title: str,
    *,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    fps: int = RENDER_FPS,
) -> Draft:
    return {
        "t": [],
        "d": 0,
        "m": {
            "title": title,
            "width": width,
            "height": height,
            "fps": fps,
            "ratio": ratio_name(width, height),
            "bg": DEFAULT_BG,
        },
    }


def ratio_name(width: int, height: int) -> str:
    for name, (w, h) in ASPECTS.items():
        if w * height == h * width:
            return name
    return f"{width}:{height}"


def track(draft: Draft, tt: int, role: str, name: str) -> Track:
    """The draft's track with this role, created (in tt order) if missing."""
    for t in draft["t"]:
        if t.get("tt") == tt and t.get("role") == role:
            found: Track = t
            return found
    new: Track = {"id": new_id("trk"), "tt": tt, "n": name, "role": role, "sg": []}
    draft["t"].append(new)
    order = {id(tr): i for i, tr in enumerate(draft["t"])}
    draft["t"].sort(key=lambda tr: (tr.get("tt", 0), order[id(tr)]))
    return new


def tracks_of(draft: Draft | None, tt: int) -> list[Track]:
    if not draft:
        return []
    return [t for t in draft.get("t", []) if t.get("tt") == tt]


def end_ms(draft: Draft) -> int:
    end = 0
    for t in draft.get("t", []):
        for sg in t.get("sg", []):
            end = max(end, int(sg.get("s", 0)) + int(sg.get("d", 0)))
    return end


def refresh_duration(draft: Draft) -> None:
    draft["d"] = end_ms(draft)


def is_ready(draft: Any) -> bool:
    """The contract's readiness rule (``contract.draft.export_ready``)."""
    return export_ready(json_tracks_have_segments(draft))


# --- edits --------------------------------------------------------------------------------------
def add_title(draft: Draft, text: str, start_ms: int, end_ms_: int) -> Segment:
    total = int(draft.get("d") or end_ms(draft))
    start = max(0, min(start_ms, max(total - 500, 0)))
    end = max(start + 500, end_ms_)
    if total:
        end = min(end, total)
    seg: Segment = {
        "id": new_id("seg"),
        "type": "text",
        "s": start,
        "d": end - start,
        "text": text,
        "name": text[:40],
        "pos": "center",
        "size": TITLE_SIZE,
        "color": "#ffffff",
    }
    track(draft, TRACK_TEXT, "title", "Titles")["sg"].append(seg)
    return seg


def music_tracks(draft: Draft) -> list[Track]:
    audio = tracks_of(draft, TRACK_AUDIO)
    music = [t for t in audio if t.get("role") in MUSIC_ROLES]
    return music or [t for t in audio if t.get("role") != "voiceover"]


def set_music_volume(draft: Draft, percent: int) -> int:
    """Set every background-music segment's ``vol``; returns how many segments changed."""
    percent = max(0, min(int(percent), 100))
    count = 0
    for t in music_tracks(draft):
        for sg in t.get("sg", []):
            sg["vol"] = percent
            count += 1
    return count


def trim(draft: Draft, new_end_ms: int) -> None:
    """Cut everything after ``new_end_ms``; segments that end later are shortened."""
    for t in draft.get("t", []):
        kept = []
        for sg in t.get("sg", []):
            s = int(sg.get("s", 0))
            if s >= new_end_ms:
                continue
            if s + int(sg.get("d", 0)) > new_end_ms:
                sg["d"] = new_end_ms - s
                if sg.get("type") == "audio":
                    sg["fo"] = min(int(sg.get("fo", 0)) or 800, sg["d"])
            kept.append(sg)
        t["sg"] = kept
    draft["d"] = new_end_ms


def set_aspect(draft: Draft, ratio: str) -> tuple[int, int]:
    width, height = ASPECTS[ratio]
    meta = draft.setdefault("m", {})
    meta.update(width=width, height=height, ratio=ratio)
    return width, height


# --- presentation ---------------------------------------------------------------------------
def _secs(ms: float) -> str:
    value = ms / 1000.0
    return f"{value:.0f}s" if abs(value - round(value)) < 0.05 else f"{value:.1f}s"


def _label(seg: Segment) -> str:
    if seg.get("name"):
        return str(seg["name"])
    src = seg.get("src")
    if isinstance(src, str) and src:
        return unquote(urlsplit(src).path.rsplit("/", 1)[-1]) or "audio"
    return "audio"


def summary(draft: Draft | None, *, chinese: bool = False) -> str:
    """ "Timeline (3 tracks): 1. Video: ... (0-10s) 2. BGM: ... (0-10s, 35%) ..."."""
    if not is_ready(draft):
        return "时间线还是空的。" if chinese else "The timeline is empty."
    assert draft is not None
    parts = []
    tracks = [t for t in draft["t"] if t.get("sg")]
    for i, t in enumerate(tracks, start=1):
        segs = t["sg"]
        first = min(int(sg.get("s", 0)) for sg in segs)
        last = max(int(sg.get("s", 0)) + int(sg.get("d", 0)) for sg in segs)
        span = f"{_secs(first)[:-1]}-{_secs(last)}"
        if t.get("tt") == TRACK_TEXT:
            texts = ", ".join(f'"{sg.get("text", "")}"' for sg in segs[:3])
            parts.append(f"{i}. Title: {texts} ({span})")
        elif t.get("tt") == TRACK_AUDIO:
            vol = segs[0].get("vol", 100)
            label = {"bgm": "BGM", "song": "Music", "voiceover": "Voiceover"}.get(
                str(t.get("role")), "Audio"
            )
            parts.append(f"{i}. {label}: {_label(segs[0])} ({span}, {vol}%)")
        else:
            kinds = sorted({str(sg.get("type", "clip")) for sg in segs})
            parts.append(f"{i}. Video: {len(segs)} segments of {'/'.join(kinds)} ({span})")
    meta = draft.get("m", {})
    head = f"Timeline ({len(tracks)} tracks, {_secs(draft.get('d', 0))}"
    head += f", {meta.get('width')}x{meta.get('height')}): "
    return head + " ".join(parts)


# --- URLs ---------------------------------------------------------------------------------------
def absolutize(obj: Any, base: str) -> Any:
    """A deep copy of ``obj`` with every ``/cdn/...`` string prefixed by ``base``."""
    base = base.rstrip("/")
    if isinstance(obj, str):
        return base + obj if obj.startswith(CDN_PREFIX) else obj
    if isinstance(obj, dict):
        return {k: absolutize(v, base) for k, v in obj.items()}
    if isinstance(obj, list):
        return [absolutize(v, base) for v in obj]
    return obj


_MEDIA_PATH = re.compile(r"^/cdn/media/(m_[0-9a-f]+)/")


def media_id_of(src: str | None) -> str | None:
    """The emulator media id inside a media URL (absolute or relative), if it is one of ours."""
    if not src:
        return None
    path = urlsplit(src).path if "://" in src else src
    m = _MEDIA_PATH.match(path)
    return m.group(1) if m else None
