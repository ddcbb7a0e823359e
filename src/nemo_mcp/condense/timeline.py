"""A tolerant model of a session's draft (timeline) and its summary in words.

Two draft shapes are read into the same model:

- the JSON draft (api-contract 5.6): short keys ``t`` tracks, ``tt`` track type (0 video,
  1 audio, 7 text), ``sg`` segments, ``d`` duration in ms, ``m`` metadata (title, width, height).
  Nothing else about segments is documented, so every other field is guessed through aliases,
  at a segment's top level and one level down in its metadata (``m``, ``meta``, ``metadata``,
  ``props``, ...), and kept in ``extra``;
- a Draft Protocol V3 document (an XML-like string, see :mod:`nemo_mcp.condense.draft_v3`).

A draft of any other shape, or one that cannot be read, is kept as it is (``draft``) with
``draft_problem`` saying why, in words: the summary says so instead of guessing, and an export
still sends the draft back exactly as received. Nothing here raises on odd input.

All text that reaches a summary or a diff (titles, names, file names) is untrusted: it is taken
from typed fields only, cleaned of control characters, single-lined, capped, never a bare type
word ("text", "video") posing as a name, and always shown in double quotes (which a label can
never contain), so it reads as the project's data, never as this program's own words.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit

from nemo_mcp.condense.draft_v3 import V3Draft, V3Track, looks_like_v3, read_v3
from nemo_mcp.condense.text import clean_label
from nemo_mcp.contract.draft import (
    SEGMENTS,
    TRACK_AUDIO,
    TRACK_TEXT,
    TRACK_TYPE,
    TRACK_VIDEO,
    TRACKS,
    export_ready,
)

__all__ = [
    "GeneratedMedia",
    "Segment",
    "Timeline",
    "Track",
    "TrackInfo",
    "format_seconds",
    "quote",
]

LABEL_CHARS: Final = 60
MAX_SUMMARY_TRACKS: Final = 12
MAX_LABELS_PER_TRACK: Final = 3
MAX_TRACKS: Final = 500
MAX_SEGMENTS: Final = 5000
MAX_META_JSON: Final = 65_536  # metadata given as a JSON string is parsed up to this size

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
# Where a segment's (or a track's) metadata may sit, one level down, in the order searched. The
# text keys come last: ``"text": {"content": "Hi", "font": ...}`` holds the text one level down.
_META_KEYS: Final = (
    "m",
    "meta",
    "metadata",
    "md",
    "props",
    "properties",
    "attrs",
    "attributes",
    "data",
    "info",
    "extra",
    "details",
    "material",
    "asset",
    "media",
    "text",
    "content",
)
_TYPE_KEYS: Final = (TRACK_TYPE, "type", "track_type", "trackType")
_SEGMENT_KEYS: Final = (SEGMENTS, "segments", "clips", "items")
_TRACKS_KEYS: Final = (TRACKS, "tracks")
_KNOWN_SEGMENT_KEYS: Final = frozenset(
    (*_DURATION_KEYS, *_START_KEYS, *_END_KEYS, *_NAME_KEYS, *_TEXT_KEYS, *_SRC_KEYS, *_VOLUME_KEYS)
)
_KNOWN_TRACK_KEYS: Final = frozenset(
    (*_TYPE_KEYS, *_SEGMENT_KEYS, *_NAME_KEYS, *_VOLUME_KEYS, "id")
)
# Keys a JSON draft may have besides its track list without being of an unknown shape.
_DRAFT_META_KEYS: Final = frozenset(
    {"m", "d", "meta", "metadata", "id", "version", "v", "fps", "width", "height", "title"}
)
# A wrapped Draft V3 document: {"format": "v3", "xml": "<draft ...>"} and the like.
_V3_WRAPPER_KEYS: Final = ("xml", "v3", "document", "doc", "content", "draft", "data", "body")
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
# Words a backend puts where a name belongs when it has none: never shown as if they were one.
_PLACEHOLDERS: Final = frozenset(
    {
        "text",
        "title",
        "caption",
        "subtitle",
        "subtitles",
        "label",
        "name",
        "video",
        "audio",
        "image",
        "img",
        "photo",
        "clip",
        "segment",
        "track",
        "media",
        "music",
        "bgm",
        "voice",
        "sfx",
        "graphics",
        "effect",
        "visual",
        "color",
        "untitled",
        "unnamed",
        "none",
        "null",
        "undefined",
        "default",
        "placeholder",
        "n/a",
    }
)
# Track type words (Draft V3 ``<track type>``, or a word in a JSON draft's ``tt``): the type code
# the rest of the model knows, and a fixed role where the word says it (None: decided by content).
_TYPE_WORDS: Final[dict[str, tuple[int | None, str | None]]] = {
    "video": (TRACK_VIDEO, "Video"),
    "main": (TRACK_VIDEO, "Video"),
    "image": (TRACK_VIDEO, "Images"),
    "images": (TRACK_VIDEO, "Images"),
    "photo": (TRACK_VIDEO, "Images"),
    "text": (TRACK_TEXT, None),
    "title": (TRACK_TEXT, None),
    "subtitle": (TRACK_TEXT, "Subtitles"),
    "subtitles": (TRACK_TEXT, "Subtitles"),
    "caption": (TRACK_TEXT, "Subtitles"),
    "captions": (TRACK_TEXT, "Subtitles"),
    "audio": (TRACK_AUDIO, None),
    "music": (TRACK_AUDIO, "BGM"),
    "bgm": (TRACK_AUDIO, "BGM"),
    "song": (TRACK_AUDIO, "BGM"),
    "voice": (TRACK_AUDIO, "Voice"),
    "voiceover": (TRACK_AUDIO, "Voice"),
    "narration": (TRACK_AUDIO, "Voice"),
    "sfx": (TRACK_AUDIO, "SFX"),
    "graphics": (None, "Graphics"),
    "graphic": (None, "Graphics"),
    "effect": (None, "Effects"),
    "effects": (None, "Effects"),
}

DraftFormat = Literal["json", "v3"]


# -- value helpers --------------------------------------------------------------------------------
def quote(label: str) -> str:
    """How every backend-supplied label is shown: in double quotes, which labels never contain."""
    return f'"{label}"'


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
    """A clean label from a typed value, or None (never a placeholder word)."""
    if isinstance(value, str):
        label = clean_label(value, LABEL_CHARS)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        label = str(value)
    else:
        return None
    if not label or label.strip(" .:-_#*").lower() in _PLACEHOLDERS:
        return None
    return label


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
    if isinstance(value, str):
        return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    try:
        blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        blob = repr(value)
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()


def _scopes(raw: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The object itself, then its metadata objects one level down (see ``_META_KEYS``)."""
    yield raw
    for key in _META_KEYS:
        value = raw.get(key)
        if isinstance(value, str) and value.lstrip().startswith("{"):
            value = _json_load(value) if len(value) <= MAX_META_JSON else None
        if isinstance(value, Mapping):
            yield value


def _label(raw: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first real label under ``keys``, at the top level or (strings only) one level down."""
    for scope in _scopes(raw):
        for key in keys:
            value = scope.get(key)
            label = _text(value) if scope is raw or isinstance(value, str) else None
            if label is not None:
                return label
    return None


def _deep_pick(raw: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for scope in _scopes(raw):
        value = _pick(scope, keys)
        if value is not None and not isinstance(value, Mapping | list):
            return value
    return None


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

    @property
    def words(self) -> str | None:
        """What a title or text segment says (its text, else its name)."""
        return self.text or self.name

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], default_start: int) -> Segment:
        start = _ms(_pick(raw, _START_KEYS))
        duration = _ms(_pick(raw, _DURATION_KEYS))
        if duration is None and start is not None:
            end = _ms(_pick(raw, _END_KEYS))
            if end is not None and end >= start:
                duration = end - start
        src = _deep_pick(raw, _SRC_KEYS)
        return cls(
            duration_ms=duration,
            start_ms=start if start is not None else default_start,
            name=_label(raw, _NAME_KEYS),
            text=_label(raw, _TEXT_KEYS),
            src=src if isinstance(src, str) else None,
            volume=_volume(_deep_pick(raw, _VOLUME_KEYS)),
            extra={k: v for k, v in raw.items() if k not in _KNOWN_SEGMENT_KEYS},
        )


def _type_of(value: Any) -> tuple[int | None, str | None]:
    """(type code, type word) from a track's ``tt``: a number, or a word such as "bgm"."""
    number = _number(value)
    if number is not None:
        return (int(number) if number.is_integer() else None), None
    if isinstance(value, str):
        word = clean_label(value, 24).lower()
        if word:
            code, _ = _TYPE_WORDS.get(word, (None, None))
            return code, word
    return None, None


@dataclass(frozen=True, slots=True)
class Track:
    type_code: int | None
    segments: tuple[Segment, ...] = ()
    name: str | None = None
    volume: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    type_name: str | None = None  # the type as a word (Draft V3 "bgm", "graphics", ...)

    @property
    def kind(self) -> str:
        if self.type_code == TRACK_VIDEO:
            return "video"
        if self.type_code == TRACK_AUDIO:
            return "audio"
        if self.type_code == TRACK_TEXT:
            return "text"
        if self.type_name:
            return self.type_name
        return f"track type {self.type_code if self.type_code is not None else '?'}"

    @property
    def group(self) -> tuple[int | None, str | None]:
        """Tracks of one group are compared with each other in a diff."""
        return self.type_code, self.type_name

    @property
    def noun(self) -> str:
        return "clip" if self.type_code == TRACK_VIDEO else "segment"

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
        """A human name for the track: Video, BGM, Voice, SFX, Title/Text, Graphics, ..."""
        if self.type_name:
            _, fixed = _TYPE_WORDS.get(self.type_name, (None, None))
            if fixed:
                return fixed
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
            return "Audio" if self.type_name == "audio" else "BGM"
        if self.type_code == TRACK_TEXT:
            return "Title" if len(self.segments) <= 1 else "Text"
        if self.type_name:
            return self.type_name[:1].upper() + self.type_name[1:]
        return "Track type " + (str(self.type_code) if self.type_code is not None else "?")

    def labels(self) -> list[str]:
        seen: list[str] = []
        for segment in self.segments:
            label = segment.words if self.type_code == TRACK_TEXT else segment.label
            if label and label not in seen:
                seen.append(label)
        return seen

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Track:
        type_code, type_name = _type_of(_pick(raw, _TYPE_KEYS))
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
            name=_label(raw, _NAME_KEYS),
            volume=_volume(_deep_pick(raw, _VOLUME_KEYS)),
            extra={k: v for k, v in raw.items() if k not in _KNOWN_TRACK_KEYS},
            type_name=type_name,
        )

    @classmethod
    def from_v3(cls, raw: V3Track) -> Track:
        code, _ = _TYPE_WORDS.get(raw.type or "", (None, None))
        name = clean_label(raw.type, 24).lower() if raw.type else None
        segments: list[Segment] = []
        cursor = 0
        for clip in raw.clips:
            start = clip.start_ms if clip.start_ms is not None else cursor
            duration = clip.duration_ms
            if clip.end_ms is not None and clip.end_ms >= start:
                duration = clip.end_ms - start
            segment = Segment(
                duration_ms=duration,
                start_ms=start,
                name=_text(clip.name),
                text=_text(clip.text),
                src=clip.src,
                volume=_volume(clip.volume),
                extra={"id": clip.clip_id, "media": clip.media},
            )
            segments.append(segment)
            cursor = segment.end_ms
        return cls(
            type_code=code,
            segments=tuple(segments),
            name=_text(raw.name),
            volume=_volume(raw.volume),
            extra={"id": raw.track_id},
            type_name=name or None,
        )

    def what(self) -> str:
        """The track's content in a few words: ``"city timelapse"``, ``2 clips: "a", "b"``."""
        if not self.segments:
            return "empty"
        if self.type_code == TRACK_TEXT:
            texts = [_words(s) for s in self.segments[:MAX_LABELS_PER_TRACK]]
            more = len(self.segments) - MAX_LABELS_PER_TRACK
            return ", ".join(texts) + (f" +{more} more" if more > 0 else "")
        labels = self.labels()
        count = len(self.segments)
        noun = self.noun
        if not labels:
            return f"{count} {noun}{'s' if count != 1 else ''}"
        if count == 1:
            return quote(labels[0])
        shown = ", ".join(quote(label) for label in labels[:MAX_LABELS_PER_TRACK])
        if len(labels) > MAX_LABELS_PER_TRACK:
            shown += ", …"
        return f"{count} {noun}s: {shown}"

    def describe(self) -> str:
        """``Video: "city timelapse" (0-10s)``, ``BGM: "Lo-fi" (0-10s, 35%)``."""
        role = self.role
        if not self.segments:
            return f"{role}: empty"
        if self.type_code == TRACK_TEXT:
            parts = []
            for segment in self.segments[:MAX_LABELS_PER_TRACK]:
                parts.append(f"{_words(segment)} ({_range(segment.start_ms, segment.end_ms)})")
            more = len(self.segments) - MAX_LABELS_PER_TRACK
            tail = f" +{more} more" if more > 0 else ""
            return f"{role}: " + ", ".join(parts) + tail
        details = [_range(self.start_ms, self.end_ms)]
        volume = self.effective_volume
        if self.type_code != TRACK_VIDEO and volume is not None:
            details.append(_percent(volume))
        return f"{role}: {self.what()} ({', '.join(details)})"


def _words(segment: Segment) -> str:
    """A title segment's words in quotes, or an honest "(no text)"."""
    words = segment.words
    return quote(words) if words else "(no text)"


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
    if isinstance(state, str) and looks_like_v3(state):
        return {"draft": state}, None  # a bare Draft V3 document
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
class _DraftFacts:
    """What the draft itself says, whatever its shape."""

    tracks: tuple[Track, ...] = ()
    has_track_list: bool = False
    format: DraftFormat | None = None
    problem: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    duration_ms: int | None = None
    transitions: int = 0


def _read_json_draft(draft: Mapping[str, Any]) -> _DraftFacts:
    raw_tracks = _json_load(_pick(draft, _TRACKS_KEYS))
    raw_meta = _json_load(draft.get("m"))
    meta = raw_meta if isinstance(raw_meta, Mapping) else {}
    duration = _ms(draft.get("d"))
    if isinstance(raw_tracks, list):
        tracks = tuple(Track.from_raw(t) for t in raw_tracks[:MAX_TRACKS] if isinstance(t, Mapping))
        return _DraftFacts(tracks, True, "json", meta=meta, duration_ms=duration)
    for key in _V3_WRAPPER_KEYS:  # {"format": "v3", "xml": "<draft ...>"}
        value = draft.get(key)
        if isinstance(value, str) and looks_like_v3(value):
            return _read_v3_draft(value)
    unknown = sorted(str(k)[:30] for k in draft if k not in _DRAFT_META_KEYS)
    if unknown:
        keys = ", ".join(unknown[:6]) + (", …" if len(unknown) > 6 else "")
        problem = f"it has no track list in a form nemo-mcp knows (keys: {keys})"
        return _DraftFacts(format="json", problem=problem, meta=meta, duration_ms=duration)
    return _DraftFacts(format="json", meta=meta, duration_ms=duration)


def _read_v3_draft(text: str) -> _DraftFacts:
    doc: V3Draft = read_v3(text)
    if doc.problem is not None:
        return _DraftFacts(format="v3", problem=f"it is a Draft V3 document, but {doc.problem}")
    meta = {
        "width": doc.width,
        "height": doc.height,
        "title": doc.title,
        "ratio": doc.ratio,
    }
    return _DraftFacts(
        tracks=tuple(Track.from_v3(t) for t in doc.tracks),
        has_track_list=True,
        format="v3",
        meta={k: v for k, v in meta.items() if v is not None},
        duration_ms=_ms(doc.duration),
        transitions=doc.transitions,
    )


def _read_draft(draft: Any) -> _DraftFacts:
    if isinstance(draft, str):
        if looks_like_v3(draft):
            return _read_v3_draft(draft)
        parsed = _json_load(draft)
        if isinstance(parsed, Mapping):
            return _read_json_draft(parsed)
        return _DraftFacts(
            problem="it is text that is neither a JSON draft nor a Draft V3 document"
        )
    if isinstance(draft, Mapping):
        if "timeline_draft" in draft and not any(k in draft for k in _TRACKS_KEYS):
            nested = _json_load(draft.get("timeline_draft"))
            if isinstance(nested, Mapping):
                return _read_json_draft(nested)
        return _read_json_draft(draft)
    return _DraftFacts(problem=f"it is a {type(draft).__name__}, not a JSON object or document")


def _present(draft: Any) -> bool:
    """Is there a draft at all? (None, "" and [] mean no draft; {} is an empty one.)"""
    if draft is None:
        return False
    if isinstance(draft, str | list | tuple):
        return bool(draft.strip() if isinstance(draft, str) else draft)
    return True


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
    # the draft exactly as received (a JSON object, or a Draft V3 string), sent back unchanged
    # to render it
    draft: Any = field(default=None, compare=False, repr=False)
    draft_format: DraftFormat | None = None
    draft_problem: str | None = None  # why the draft could not be read, in words
    transitions: int = 0

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | str | None) -> Timeline:
        """Build from the state payload, the inner ``state`` dict, or a bare draft (JSON text
        or a Draft V3 document)."""
        inner, session_id = _unwrap(state)
        raw_draft = inner.get("draft")
        has_draft = _present(raw_draft)
        facts = _read_draft(raw_draft) if has_draft else _DraftFacts()
        meta = facts.meta
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
                name=_label(item, _NAME_KEYS) if isinstance(item, Mapping) else None,
            )
            for item in _media_list(inner.get("generated_media"))
        )
        return cls(
            tracks=facts.tracks,
            has_draft=has_draft,
            has_track_list=facts.has_track_list,
            title=_text(_pick(meta, ("title", "name"))),
            width=width or None,
            height=height or None,
            declared_ratio=_normalise_ratio(ratio),
            declared_duration_ms=facts.duration_ms or None,
            uploads=uploads,
            generated=generated,
            session_id=session_id,
            draft_fingerprint=_fingerprint(raw_draft) if has_draft else "",
            draft=raw_draft if has_draft else None,
            draft_format=facts.format,
            draft_problem=facts.problem,
            transitions=facts.transitions,
        )

    # -- derived facts -----------------------------------------------------------------------
    @property
    def is_export_ready(self) -> bool:
        """The contract's rule: ``draft.t`` exists and at least one track has non-empty ``sg``
        (for Draft V3: a ``<draft>`` with at least one ``<clip>``)."""
        return export_ready(
            [bool(track.segments) for track in self.tracks] if self.has_track_list else None
        )

    @property
    def can_export(self) -> bool:
        """Ready, or a draft that could not be read: NemoVideo judges it, sent back as is."""
        return self.has_draft and (self.is_export_ready or self.draft_problem is not None)

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
        """``Timeline (3 tracks): 1. Video: "…" 2. BGM: "…" 3. Title: "…" (0-3s)``."""
        if self.draft_problem is not None:
            return (
                f"The draft could not be read: {self.draft_problem}. Its tracks are not shown "
                "rather than guessed; an export sends it to NemoVideo exactly as received."
            )
        if not self.tracks:
            return "Timeline is empty."
        n = len(self.tracks)
        parts = [
            f"{i}. {track.describe()}"
            for i, track in enumerate(self.tracks[:MAX_SUMMARY_TRACKS], start=1)
        ]
        if n > MAX_SUMMARY_TRACKS:
            parts.append(f"(+{n - MAX_SUMMARY_TRACKS} more tracks)")
        if self.transitions:
            noun = "transition" if self.transitions == 1 else "transitions"
            parts.append(f"({self.transitions} {noun})")
        return f"Timeline ({n} track{'s' if n != 1 else ''}): " + " ".join(parts)

    def overview(self) -> str:
        """One line of facts: duration, size, media counts, export readiness."""
        bits: list[str] = []
        if self.title:
            bits.append(quote(self.title))
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
        if self.draft_problem is not None:
            bits.append("draft unreadable")
        else:
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
            "draft_format": self.draft_format,
            "draft_problem": self.draft_problem,
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
