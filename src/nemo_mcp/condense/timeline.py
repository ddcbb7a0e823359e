"""A tolerant model of a session's draft (timeline), its summary and a diff in words.

The draft (api-contract 5.6) uses short keys: ``t`` tracks, ``tt`` track type (0 video, 1 audio,
7 text), ``sg`` segments, ``d`` duration in ms, ``m`` metadata (title, width, height). Nothing
else about segments is documented, so every other field is guessed through aliases and kept in
``extra``. Nothing here raises on odd input: a value of the wrong type is simply ignored.

All text that reaches a summary or a diff (titles, names, file names) is untrusted: it is taken
from typed fields only, cleaned of control characters, single-lined and capped.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from nemo_mcp.condense.text import clean_label
from nemo_mcp.contract import TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO

__all__ = [
    "GeneratedMedia",
    "Segment",
    "Timeline",
    "Track",
    "TrackInfo",
    "diff_states",
    "format_seconds",
]

LABEL_CHARS: Final = 60
MAX_SUMMARY_TRACKS: Final = 12
MAX_LABELS_PER_TRACK: Final = 3
MAX_DIFF_LINES: Final = 20
MAX_TRACKS: Final = 500
MAX_SEGMENTS: Final = 5000

_DURATION_KEYS: Final = ("d", "dur", "duration", "duration_ms", "durationMs", "len", "length")
_START_KEYS: Final = (
    "s",
    "st",
    "start",
    "start_ms",
    "startMs",
    "start_time",
    "startTime",
    "ts",
    "offset",
    "begin",
)
_END_KEYS: Final = ("e", "et", "end", "end_ms", "endMs", "end_time", "endTime", "te")
_NAME_KEYS: Final = (
    "name",
    "title",
    "label",
    "nm",
    "display_name",
    "displayName",
    "filename",
    "file_name",
    "fileName",
    "desc",
    "description",
)
_TEXT_KEYS: Final = ("text", "content", "txt", "tx", "caption", "subtitle", "value")
_SRC_KEYS: Final = (
    "src",
    "url",
    "uri",
    "path",
    "file",
    "source",
    "media_url",
    "mediaUrl",
    "video_url",
    "videoUrl",
    "audio_url",
    "audioUrl",
    "image_url",
    "imageUrl",
)
_VOLUME_KEYS: Final = ("volume", "vol", "gain", "vl")
_TYPE_KEYS: Final = ("tt", "type", "track_type", "trackType")
_SEGMENT_KEYS: Final = ("sg", "segments", "clips", "items")
_TRACKS_KEYS: Final = ("t", "tracks")
_KNOWN_SEGMENT_KEYS: Final = frozenset(
    (*_DURATION_KEYS, *_START_KEYS, *_END_KEYS, *_NAME_KEYS, *_TEXT_KEYS, *_SRC_KEYS, *_VOLUME_KEYS)
)
_KNOWN_TRACK_KEYS: Final = frozenset(
    (*_TYPE_KEYS, *_SEGMENT_KEYS, *_NAME_KEYS, *_VOLUME_KEYS, "id")
)
_WIDTH_KEYS: Final = ("width", "w", "canvas_width", "canvasWidth")
_HEIGHT_KEYS: Final = ("height", "h", "canvas_height", "canvasHeight")
_RATIO_KEYS: Final = ("ratio", "aspect_ratio", "aspectRatio", "aspect")
_STATE_KEYS: Final = ("draft", "video_infos", "generated_media", "canvas_config", "video_analyses")
_COMMON_RATIOS: Final = (
    (16, 9),
    (9, 16),
    (1, 1),
    (4, 3),
    (3, 4),
    (4, 5),
    (5, 4),
    (21, 9),
    (3, 2),
    (2, 3),
)
_VOICE_WORDS: Final = ("voice", "narrat", "speech", "tts", "vo ", "dub", "旁白", "配音", "解说")
_SFX_WORDS: Final = ("sfx", "effect", "音效")


# -- value helpers --------------------------------------------------------------------------------
def _pick(obj: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in obj:
            value = obj[key]
            if value is not None:
                return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        if not text or len(text) > 32:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return number


def _ms(value: Any) -> int | None:
    number = _number(value)
    if number is None or number < 0 or number > 1e12:
        return None
    return round(number)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        label = clean_label(value, LABEL_CHARS)
        return label or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _volume(value: Any) -> float | None:
    """A volume as a fraction (1.0 = 100 %). Values up to 2 are fractions, above are percents."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _number(value)
        return None if number is None or number < 0 else number / 100.0
    number = _number(value)
    if number is None or number < 0 or number > 10_000:
        return None
    return number if number <= 2 else number / 100.0


def format_seconds(ms: int) -> str:
    """10000 -> "10", 2500 -> "2.5"."""
    seconds = round(ms / 1000.0, 1)
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:.1f}"


def _range(start: int, end: int, unit: str = "s") -> str:
    return f"{format_seconds(start)}-{format_seconds(end)}{unit}"


def _percent(volume: float) -> str:
    return f"{round(volume * 100)}%"


def _stem(src: str) -> str | None:
    try:
        path = urlsplit(src).path if "://" in src else src
    except ValueError:
        path = src
    base = posixpath.basename(unquote(path).replace("\\", "/"))
    if "." in base:
        base = base.rsplit(".", 1)[0]
    return _text(base)


def _json_load(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value


def _fingerprint(value: Any) -> str:
    if value is None:
        return ""
    try:
        blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        blob = repr(value)
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()


# -- model ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Segment:
    duration_ms: int | None = None
    start_ms: int = 0
    name: str | None = None
    text: str | None = None
    src: str | None = None
    volume: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def end_ms(self) -> int:
        return self.start_ms + (self.duration_ms or 0)

    @property
    def label(self) -> str | None:
        return self.name or self.text or (_stem(self.src) if self.src else None)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], default_start: int) -> Segment:
        start = _ms(_pick(raw, _START_KEYS))
        duration = _ms(_pick(raw, _DURATION_KEYS))
        if duration is None and start is not None:
            end = _ms(_pick(raw, _END_KEYS))
            if end is not None and end >= start:
                duration = end - start
        src = _pick(raw, _SRC_KEYS)
        return cls(
            duration_ms=duration,
            start_ms=start if start is not None else default_start,
            name=_text(_pick(raw, _NAME_KEYS)),
            text=_text(_pick(raw, _TEXT_KEYS)),
            src=src if isinstance(src, str) else None,
            volume=_volume(_pick(raw, _VOLUME_KEYS)),
            extra={k: v for k, v in raw.items() if k not in _KNOWN_SEGMENT_KEYS},
        )


@dataclass(frozen=True, slots=True)
class Track:
    type_code: int | None
    segments: tuple[Segment, ...] = ()
    name: str | None = None
    volume: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> str:
        if self.type_code == TRACK_VIDEO:
            return "video"
        if self.type_code == TRACK_AUDIO:
            return "audio"
        if self.type_code == TRACK_TEXT:
            return "text"
        return f"track type {self.type_code if self.type_code is not None else '?'}"

    @property
    def start_ms(self) -> int:
        return min((s.start_ms for s in self.segments), default=0)

    @property
    def end_ms(self) -> int:
        return max((s.end_ms for s in self.segments), default=0)

    @property
    def effective_volume(self) -> float | None:
        if self.volume is not None:
            return self.volume
        for segment in self.segments:
            if segment.volume is not None:
                return segment.volume
        return None

    @property
    def role(self) -> str:
        """A human name for the track: Video, BGM, Voice, SFX, Title/Text or "Track type N"."""
        if self.type_code == TRACK_VIDEO:
            return "Video"
        if self.type_code == TRACK_AUDIO:
            hay = " ".join(
                x.lower() for x in (self.name, *(s.label for s in self.segments[:3])) if x
            )
            if any(w in hay for w in _VOICE_WORDS):
                return "Voice"
            if any(w in hay for w in _SFX_WORDS):
                return "SFX"
            return "BGM"
        if self.type_code == TRACK_TEXT:
            return "Title" if len(self.segments) <= 1 else "Text"
        return "Track type " + (str(self.type_code) if self.type_code is not None else "?")

    def labels(self) -> list[str]:
        seen: list[str] = []
        for segment in self.segments:
            label = segment.text or segment.name if self.type_code == TRACK_TEXT else segment.label
            if label and label not in seen:
                seen.append(label)
        return seen

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Track:
        type_value = _number(_pick(raw, _TYPE_KEYS))
        type_code = int(type_value) if type_value is not None and type_value.is_integer() else None
        raw_segments = _pick(raw, _SEGMENT_KEYS)
        segments: list[Segment] = []
        cursor = 0
        if isinstance(raw_segments, list):
            for item in raw_segments[:MAX_SEGMENTS]:
                if isinstance(item, Mapping):
                    segment = Segment.from_raw(item, cursor)
                    segments.append(segment)
                    cursor = segment.end_ms
        return cls(
            type_code=type_code,
            segments=tuple(segments),
            name=_text(_pick(raw, _NAME_KEYS)),
            volume=_volume(_pick(raw, _VOLUME_KEYS)),
            extra={k: v for k, v in raw.items() if k not in _KNOWN_TRACK_KEYS},
        )

    def what(self) -> str:
        """The track's content in a few words: ``city timelapse``, ``"Urban Dreams"``."""
        if not self.segments:
            return "empty"
        if self.type_code == TRACK_TEXT:
            texts = [
                f'"{s.text or s.name or "text"}"' for s in self.segments[:MAX_LABELS_PER_TRACK]
            ]
            more = len(self.segments) - MAX_LABELS_PER_TRACK
            return ", ".join(texts) + (f" +{more} more" if more > 0 else "")
        labels = self.labels()
        count = len(self.segments)
        noun = "clip" if self.type_code == TRACK_VIDEO else "segment"
        if not labels:
            return f"{count} {noun}{'s' if count != 1 else ''}"
        if count == 1:
            return labels[0]
        shown = ", ".join(labels[:MAX_LABELS_PER_TRACK])
        if len(labels) > MAX_LABELS_PER_TRACK:
            shown += ", …"
        return f"{count} {noun}s: {shown}"

    def describe(self) -> str:
        """``Video: city timelapse (0-10s)``, ``BGM: Lo-fi (0-10s, 35%)``, ``Title: "X" (0-3s)``."""
        role = self.role
        if not self.segments:
            return f"{role}: empty"
        if self.type_code == TRACK_TEXT:
            parts = []
            for segment in self.segments[:MAX_LABELS_PER_TRACK]:
                text = segment.text or segment.name or "text"
                parts.append(f'"{text}" ({_range(segment.start_ms, segment.end_ms)})')
            more = len(self.segments) - MAX_LABELS_PER_TRACK
            tail = f" +{more} more" if more > 0 else ""
            return f"{role}: " + ", ".join(parts) + tail
        details = [_range(self.start_ms, self.end_ms)]
        volume = self.effective_volume
        if self.type_code != TRACK_VIDEO and volume is not None:
            details.append(_percent(volume))
        return f"{role}: {self.what()} ({', '.join(details)})"


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """A flat, display-ready view of one track (see ``Timeline.track_views``)."""

    kind: str
    role: str
    label: str
    start_s: float
    end_s: float
    volume_pct: float | None
    segments: int


@dataclass(frozen=True, slots=True)
class GeneratedMedia:
    kind: str  # "video", "audio", "image" or "media"
    key: str
    name: str | None = None


def _media_kind(item: Mapping[str, Any]) -> str:
    hay = " ".join(
        str(item.get(k, "")).lower()
        for k in ("type", "media_type", "mediaType", "kind", "mime", "mime_type", "mimeType")
    )
    if not hay.strip():
        src = _pick(item, _SRC_KEYS)
        hay = str(src).lower() if isinstance(src, str) else ""
    if "video" in hay or hay.endswith((".mp4", ".mov", ".webm")):
        return "video"
    if any(w in hay for w in ("audio", "music", "song", "bgm", "voice", ".mp3", ".wav")):
        return "audio"
    if any(w in hay for w in ("image", "photo", "picture", ".png", ".jpg")):
        return "image"
    return "media"


def _media_key(item: Any) -> str:
    if isinstance(item, Mapping):
        for key in ("id", "video_id", "videoId", "media_id", "mediaId", "file_id", "fileId"):
            value = item.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return f"id:{value}"
        src = _pick(item, _SRC_KEYS)
        if isinstance(src, str) and src:
            return f"src:{src}"
    return "fp:" + _fingerprint(item)


def _media_list(value: Any) -> list[Any]:
    value = _json_load(value)
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):  # keyed by id
        return [dict(v, id=k) if isinstance(v, Mapping) else v for k, v in value.items()]
    return []


def _unwrap(state: Any) -> tuple[Mapping[str, Any], str | None]:
    """(inner state dict, session id) from whatever shape we were handed."""
    state = _json_load(state)
    if not isinstance(state, Mapping):
        return {}, None
    if "code" in state and isinstance(state.get("data"), Mapping):  # an unread envelope
        state = state["data"]
    session_id = state.get("session_id")
    sid = session_id if isinstance(session_id, str) else None
    inner = _json_load(state.get("state"))
    if isinstance(inner, Mapping):
        return inner, sid
    if any(k in state for k in _STATE_KEYS):
        return state, sid
    if any(k in state for k in _TRACKS_KEYS):  # a bare draft
        return {"draft": state}, sid
    timeline_draft = state.get("timeline_draft")
    if isinstance(timeline_draft, Mapping):
        return {"draft": timeline_draft}, sid
    return {}, sid


@dataclass(frozen=True, slots=True)
class Timeline:
    tracks: tuple[Track, ...] = ()
    has_draft: bool = False
    has_track_list: bool = False
    title: str | None = None
    width: int | None = None
    height: int | None = None
    declared_ratio: str | None = None
    declared_duration_ms: int | None = None
    uploads: tuple[str, ...] = ()
    generated: tuple[GeneratedMedia, ...] = ()
    session_id: str | None = None
    draft_fingerprint: str = ""
    # the draft as parsed from the state, sent back unchanged to render it
    draft: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | str | None) -> Timeline:
        """Build from the state payload, the inner ``state`` dict, or a bare draft (or JSON)."""
        inner, session_id = _unwrap(state)
        draft = _json_load(inner.get("draft"))
        if isinstance(draft, Mapping) and "timeline_draft" in draft and "t" not in draft:
            nested = _json_load(draft.get("timeline_draft"))
            draft = nested if isinstance(nested, Mapping) else draft
        tracks: list[Track] = []
        has_draft = isinstance(draft, Mapping)
        has_track_list = False
        meta: Mapping[str, Any] = {}
        declared_duration = None
        if isinstance(draft, Mapping):
            raw_tracks = _json_load(_pick(draft, _TRACKS_KEYS))
            if isinstance(raw_tracks, list):
                has_track_list = True
                tracks = [
                    Track.from_raw(t) for t in raw_tracks[:MAX_TRACKS] if isinstance(t, Mapping)
                ]
            raw_meta = _json_load(draft.get("m"))
            if isinstance(raw_meta, Mapping):
                meta = raw_meta
            declared_duration = _ms(draft.get("d"))
        canvas = _json_load(inner.get("canvas_config"))
        if not isinstance(canvas, Mapping):
            canvas = {}
        width = _ms(_pick(meta, _WIDTH_KEYS)) or _ms(_pick(canvas, _WIDTH_KEYS))
        height = _ms(_pick(meta, _HEIGHT_KEYS)) or _ms(_pick(canvas, _HEIGHT_KEYS))
        ratio = _pick(meta, _RATIO_KEYS) or _pick(canvas, _RATIO_KEYS)
        uploads = tuple(_media_key(item) for item in _media_list(inner.get("video_infos")))
        generated = tuple(
            GeneratedMedia(
                kind=_media_kind(item) if isinstance(item, Mapping) else "media",
                key=_media_key(item),
                name=_text(_pick(item, _NAME_KEYS)) if isinstance(item, Mapping) else None,
            )
            for item in _media_list(inner.get("generated_media"))
        )
        return cls(
            tracks=tuple(tracks),
            has_draft=has_draft,
            has_track_list=has_track_list,
            title=_text(_pick(meta, ("title", "name"))),
            width=width or None,
            height=height or None,
            declared_ratio=_normalise_ratio(ratio),
            declared_duration_ms=declared_duration or None,
            uploads=uploads,
            generated=generated,
            session_id=session_id,
            draft_fingerprint=_fingerprint(draft) if has_draft else "",
            draft=draft if isinstance(draft, Mapping) else None,
        )

    # -- derived facts -----------------------------------------------------------------------
    @property
    def is_export_ready(self) -> bool:
        """The contract's rule: ``draft.t`` exists and at least one track has non-empty ``sg``."""
        return self.has_track_list and any(track.segments for track in self.tracks)

    @property
    def is_empty(self) -> bool:
        return not self.tracks

    @property
    def duration_ms(self) -> int:
        if self.declared_duration_ms:
            return self.declared_duration_ms
        return max((track.end_ms for track in self.tracks), default=0)

    @property
    def duration_s(self) -> float:
        return self.duration_ms / 1000.0

    @property
    def resolution(self) -> str | None:
        if self.width and self.height:
            return f"{self.width}x{self.height}"
        return None

    @property
    def aspect(self) -> str | None:
        if self.declared_ratio:
            return self.declared_ratio
        if self.width and self.height:
            return _ratio_from_size(self.width, self.height)
        return None

    @property
    def upload_count(self) -> int:
        return len(self.uploads)

    @property
    def generated_count(self) -> int:
        return len(self.generated)

    def track_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter(track.kind for track in self.tracks)
        return dict(counts)

    def media_counts(self) -> dict[str, int]:
        counts = Counter(item.kind for item in self.generated)
        return {"uploads": len(self.uploads), "generated": len(self.generated), **counts}

    def track_views(self) -> list[TrackInfo]:
        views = []
        for track in self.tracks:
            volume = track.effective_volume if track.type_code != TRACK_VIDEO else None
            views.append(
                TrackInfo(
                    kind=track.kind,
                    role=track.role,
                    label=track.what(),
                    start_s=track.start_ms / 1000.0,
                    end_s=track.end_ms / 1000.0,
                    volume_pct=round(volume * 100, 1) if volume is not None else None,
                    segments=len(track.segments),
                )
            )
        return views

    # -- text --------------------------------------------------------------------------------
    def summary(self) -> str:
        """``Timeline (3 tracks): 1. Video: … 2. BGM: … 3. Title: "…" (0-3s)``."""
        if not self.tracks:
            return "Timeline is empty."
        n = len(self.tracks)
        parts = [
            f"{i}. {track.describe()}"
            for i, track in enumerate(self.tracks[:MAX_SUMMARY_TRACKS], start=1)
        ]
        if n > MAX_SUMMARY_TRACKS:
            parts.append(f"(+{n - MAX_SUMMARY_TRACKS} more tracks)")
        return f"Timeline ({n} track{'s' if n != 1 else ''}): " + " ".join(parts)

    def overview(self) -> str:
        """One line of facts: duration, size, media counts, export readiness."""
        bits: list[str] = []
        if self.title:
            bits.append(f"'{self.title}'")
        if self.duration_ms:
            bits.append(f"{format_seconds(self.duration_ms)} s")
        if self.resolution or self.aspect:
            size = self.resolution or ""
            if self.aspect:
                size = f"{size} ({self.aspect})" if size else self.aspect
            bits.append(size)
        bits.append(f"{len(self.uploads)} upload{'s' if len(self.uploads) != 1 else ''}")
        if self.generated:
            bits.append(f"{len(self.generated)} generated")
        bits.append("ready to export" if self.is_export_ready else "not ready to export")
        return " · ".join(bits)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe digest for structured tool output."""
        return {
            "summary": self.summary(),
            "tracks": [
                {
                    "kind": t.kind,
                    "role": t.role,
                    "segments": len(t.segments),
                    "start_s": t.start_ms / 1000.0,
                    "end_s": t.end_ms / 1000.0,
                    "labels": t.labels()[:MAX_LABELS_PER_TRACK],
                    "volume": t.effective_volume,
                }
                for t in self.tracks[:MAX_SUMMARY_TRACKS]
            ],
            "track_count": len(self.tracks),
            "duration_s": self.duration_s,
            "resolution": self.resolution,
            "aspect": self.aspect,
            "title": self.title,
            "uploads": len(self.uploads),
            "generated": len(self.generated),
            "export_ready": self.is_export_ready,
        }


def _normalise_ratio(value: Any) -> str | None:
    if isinstance(value, str):
        text = value.strip().replace("/", ":").replace("x", ":").replace("：", ":")
        if ":" in text:
            left, _, right = text.partition(":")
            a, b = _number(left), _number(right)
            if not (a and b and a > 0 and b > 0 and a < 1e6 and b < 1e6):
                return None
            if a.is_integer() and b.is_integer():
                return _ratio_from_size(int(a), int(b))
            return _ratio_from_float(a / b)
        number = _number(text)
        return _ratio_from_float(number) if number else None
    number = _number(value)
    return _ratio_from_float(number) if number else None


def _ratio_from_float(value: float) -> str | None:
    if value <= 0:
        return None
    for a, b in _COMMON_RATIOS:
        if abs(value - a / b) / (a / b) < 0.01:
            return f"{a}:{b}"
    return f"{value:.2f}:1"


def _ratio_from_size(width: int, height: int) -> str:
    exact = math.gcd(width, height)
    a, b = width // exact, height // exact
    if a <= 32 and b <= 32:
        return f"{a}:{b}"
    return _ratio_from_float(width / height) or f"{a}:{b}"


# -- diff -----------------------------------------------------------------------------------------
def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _quoted(label: str | None) -> str:
    return f" '{label}'" if label else ""


def _span(segments: Iterable[Segment]) -> str:
    items = list(segments)
    if not items:
        return ""
    start = min(s.start_ms for s in items)
    end = max(s.end_ms for s in items)
    return f" {_range(start, end, ' s')}"


def _track_label(track: Track) -> str | None:
    labels = track.labels()
    if not labels:
        return None
    return labels[0] if len(labels) == 1 else f"{labels[0]}, …"


def _by_type(timeline: Timeline, type_code: int | None) -> list[Track]:
    return [t for t in timeline.tracks if t.type_code == type_code]


def _diff_titles(before: Timeline, after: Timeline) -> list[str]:
    def titles(timeline: Timeline) -> dict[str, list[Segment]]:
        out: dict[str, list[Segment]] = {}
        for track in _by_type(timeline, TRACK_TEXT):
            for segment in track.segments:
                out.setdefault(segment.text or segment.name or "text", []).append(segment)
        return out

    old, new = titles(before), titles(after)
    lines: list[str] = []
    for text, segments in new.items():
        previous = old.get(text, [])
        for segment in segments[len(previous) :]:
            lines.append(f"added title '{text}' {_range(segment.start_ms, segment.end_ms, ' s')}")
        if len(previous) == 1 and len(segments) == 1:
            a, b = previous[0], segments[0]
            if (a.start_ms, a.end_ms) != (b.start_ms, b.end_ms):
                lines.append(
                    f"title '{text}' moved {_range(a.start_ms, a.end_ms, ' s')} -> "
                    f"{_range(b.start_ms, b.end_ms, ' s')}"
                )
    for text, segments in old.items():
        for _ in segments[len(new.get(text, [])) :]:
            lines.append(f"removed title '{text}'")
    return lines


def _diff_tracks(before: Timeline, after: Timeline) -> list[str]:
    lines: list[str] = []
    type_codes = []
    for track in (*before.tracks, *after.tracks):
        if track.type_code != TRACK_TEXT and track.type_code not in type_codes:
            type_codes.append(track.type_code)
    for type_code in type_codes:
        old, new = _by_type(before, type_code), _by_type(after, type_code)
        for i in range(max(len(old), len(new))):
            if i >= len(old):
                track = new[i]
                what = track.role if track.type_code == TRACK_AUDIO else f"{track.kind} track"
                line = f"added {what}{_quoted(_track_label(track))}{_span(track.segments)}"
                volume = track.effective_volume
                if track.type_code == TRACK_AUDIO and volume is not None:
                    line += f" ({_percent(volume)})"
                lines.append(line)
                continue
            if i >= len(new):
                track = old[i]
                what = track.role if track.type_code == TRACK_AUDIO else f"{track.kind} track"
                lines.append(f"removed {what}{_quoted(_track_label(track))}")
                continue
            lines.extend(_diff_track(old[i], new[i]))
    return lines


def _diff_track(a: Track, b: Track) -> list[str]:
    lines: list[str] = []
    role = b.role if b.type_code == TRACK_AUDIO else a.kind
    la, lb = _track_label(a), _track_label(b)
    if len(a.segments) != len(b.segments):
        noun = "clip" if b.type_code == TRACK_VIDEO else "segment"
        lines.append(f"{role} {_plural(len(a.segments), noun)} -> {_plural(len(b.segments), noun)}")
    elif la != lb and (la or lb):
        lines.append(f"{role} '{la or '?'}' -> '{lb or '?'}'")
    if b.type_code != TRACK_VIDEO:
        va, vb = a.effective_volume, b.effective_volume
        if vb is not None and va != vb and (va is None or round(va * 100) != round(vb * 100)):
            if va is None:
                lines.append(f"{role} volume set to {_percent(vb)}")
            else:
                lines.append(f"{role} volume {_percent(va)} -> {_percent(vb)}")
    return lines


def _diff_media(before: Timeline, after: Timeline) -> list[str]:
    lines: list[str] = []
    old_uploads = set(before.uploads)
    new_uploads = [k for k in after.uploads if k not in old_uploads]
    if new_uploads:
        lines.append(f"{_plural(len(new_uploads), 'new upload')}")
    gone = len(set(before.uploads) - set(after.uploads))
    if gone:
        lines.append(f"{_plural(gone, 'upload')} removed")
    old_generated = {item.key for item in before.generated}
    fresh = Counter(item.kind for item in after.generated if item.key not in old_generated)
    nouns = {
        "video": ("new generated video", "new generated videos"),
        "audio": ("new generated audio track", "new generated audio tracks"),
        "image": ("new generated image", "new generated images"),
        "media": ("new generated media item", "new generated media items"),
    }
    for kind in ("video", "audio", "image", "media"):
        if fresh[kind]:
            one, many = nouns[kind]
            lines.append(f"{fresh[kind]} {one if fresh[kind] == 1 else many}")
    return lines


def diff_states(
    before: Mapping[str, Any] | Timeline | None, after: Mapping[str, Any] | Timeline | None
) -> list[str]:
    """What changed between two state reads, in words; ``[]`` means nothing we can see.

    ``None`` stands for an empty session (no draft, no media). Draft changes that are not
    modelled (effects, transitions, ...) still produce a generic line, so a non-empty draft
    change is never reported as "no change".
    """
    old = before if isinstance(before, Timeline) else Timeline.from_state(before)
    new = after if isinstance(after, Timeline) else Timeline.from_state(after)
    lines: list[str] = []
    if old.has_draft and not new.has_draft:
        lines.append("timeline cleared")
    else:
        lines.extend(_diff_tracks(old, new))
        lines.extend(_diff_titles(old, new))
    if old.duration_ms != new.duration_ms and old.duration_ms and new.duration_ms:
        # (from or to nothing, the added/removed tracks already say it)
        lines.append(
            f"duration {format_seconds(old.duration_ms)} s -> {format_seconds(new.duration_ms)} s"
        )
    if old.aspect != new.aspect and new.aspect:
        if old.aspect:
            line = f"aspect {old.aspect} -> {new.aspect}"
            if old.resolution and new.resolution and old.resolution != new.resolution:
                line += f" ({old.resolution} -> {new.resolution})"
        else:
            line = f"aspect set to {new.aspect}"
            if new.resolution:
                line += f" ({new.resolution})"
        lines.append(line)
    elif old.resolution != new.resolution and new.resolution:
        if old.resolution:
            lines.append(f"resolution {old.resolution} -> {new.resolution}")
        else:
            lines.append(f"resolution set to {new.resolution}")
    if old.title != new.title and new.title:
        lines.append(
            f"project title '{old.title}' -> '{new.title}'"
            if old.title
            else (f"project title set to '{new.title}'")
        )
    draft_lines = bool(lines)
    lines.extend(_diff_media(old, new))
    if not draft_lines and old.draft_fingerprint != new.draft_fingerprint and new.has_draft:
        lines.insert(0, "timeline edited (effects, transitions or other details)")
    if len(lines) > MAX_DIFF_LINES:
        extra = len(lines) - MAX_DIFF_LINES + 1
        lines = [*lines[: MAX_DIFF_LINES - 1], f"and {extra} more changes"]
    return lines
