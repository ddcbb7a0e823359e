"""From a state payload to the facts a timeline is made of: unwrapping the payload, reading
the draft in whichever shape it came (JSON, JSON text, Draft V3, V3 wrapped in an object), and the
media lists. Nothing here raises on odd input: a draft that cannot be read comes back with a
``problem`` in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nemo_mcp.contract.draft import DURATION, META
from nemo_mcp.timeline.draft_v3 import V3Draft, looks_like_v3, read_v3
from nemo_mcp.timeline.fields import (
    DRAFT_META_KEYS,
    MAX_TRACKS,
    SRC_KEYS,
    STATE_KEYS,
    TRACKS_KEYS,
    V3_WRAPPER_KEYS,
)
from nemo_mcp.timeline.tracks import Track
from nemo_mcp.timeline.values import fingerprint, first_of, json_load, read_ms

DraftFormat = Literal["json", "v3"]


@dataclass(frozen=True, slots=True)
class GeneratedMedia:
    kind: str  # "video", "audio", "image" or "media"
    key: str
    name: str | None = None


def media_kind(item: Mapping[str, Any]) -> str:
    hay = " ".join(
        str(item.get(k, "")).lower()
        for k in ("type", "media_type", "mediaType", "kind", "mime", "mime_type", "mimeType")
    )
    if not hay.strip():
        src = first_of(item, SRC_KEYS)
        hay = str(src).lower() if isinstance(src, str) else ""
    if "video" in hay or hay.endswith((".mp4", ".mov", ".webm")):
        return "video"
    if any(w in hay for w in ("audio", "music", "song", "bgm", "voice", ".mp3", ".wav")):
        return "audio"
    if any(w in hay for w in ("image", "photo", "picture", ".png", ".jpg")):
        return "image"
    return "media"


def media_key(item: Any) -> str:
    if isinstance(item, Mapping):
        for key in ("id", "video_id", "videoId", "media_id", "mediaId", "file_id", "fileId"):
            value = item.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return f"id:{value}"
        src = first_of(item, SRC_KEYS)
        if isinstance(src, str) and src:
            return f"src:{src}"
    return "fp:" + fingerprint(item)


def media_list(value: Any) -> list[Any]:
    value = json_load(value)
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):  # keyed by id
        return [dict(v, id=k) if isinstance(v, Mapping) else v for k, v in value.items()]
    return []


def unwrap(state: Any) -> tuple[Mapping[str, Any], str | None]:
    """(inner state dict, session id) from whatever shape we were handed."""
    if isinstance(state, str) and looks_like_v3(state):
        return {"draft": state}, None  # a bare Draft V3 document
    state = json_load(state)
    if not isinstance(state, Mapping):
        return {}, None
    if "code" in state and isinstance(state.get("data"), Mapping):  # an unread envelope
        state = state["data"]
    session_id = state.get("session_id")
    sid = session_id if isinstance(session_id, str) else None
    inner = json_load(state.get("state"))
    if isinstance(inner, Mapping):
        return inner, sid
    if any(k in state for k in STATE_KEYS):
        return state, sid
    if any(k in state for k in TRACKS_KEYS):  # a bare draft
        return {"draft": state}, sid
    timeline_draft = state.get("timeline_draft")
    if isinstance(timeline_draft, Mapping):
        return {"draft": timeline_draft}, sid
    return {}, sid


@dataclass(frozen=True, slots=True)
class DraftFacts:
    """What the draft itself says, whatever its shape."""

    tracks: tuple[Track, ...] = ()
    has_track_list: bool = False
    format: DraftFormat | None = None
    problem: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    duration_ms: int | None = None
    transitions: int = 0


def read_json_draft(draft: Mapping[str, Any]) -> DraftFacts:
    raw_tracks = json_load(first_of(draft, TRACKS_KEYS))
    raw_meta = json_load(draft.get(META))
    meta = raw_meta if isinstance(raw_meta, Mapping) else {}
    duration = read_ms(draft.get(DURATION))
    if isinstance(raw_tracks, list):
        tracks = tuple(Track.from_raw(t) for t in raw_tracks[:MAX_TRACKS] if isinstance(t, Mapping))
        return DraftFacts(tracks, True, "json", meta=meta, duration_ms=duration)
    for key in V3_WRAPPER_KEYS:  # {"format": "v3", "xml": "<draft ...>"}
        value = draft.get(key)
        if isinstance(value, str) and looks_like_v3(value):
            return read_v3_draft(value)
    unknown = sorted(str(k)[:30] for k in draft if k not in DRAFT_META_KEYS)
    if unknown:
        keys = ", ".join(unknown[:6]) + (", …" if len(unknown) > 6 else "")
        problem = f"it has no track list in a form nemo-mcp knows (keys: {keys})"
        return DraftFacts(format="json", problem=problem, meta=meta, duration_ms=duration)
    return DraftFacts(format="json", meta=meta, duration_ms=duration)


def read_v3_draft(text: str) -> DraftFacts:
    doc: V3Draft = read_v3(text)
    if doc.problem is not None:
        return DraftFacts(format="v3", problem=f"it is a Draft V3 document, but {doc.problem}")
    meta = {
        "width": doc.width,
        "height": doc.height,
        "title": doc.title,
        "ratio": doc.ratio,
    }
    return DraftFacts(
        tracks=tuple(Track.from_v3(t) for t in doc.tracks),
        has_track_list=True,
        format="v3",
        meta={k: v for k, v in meta.items() if v is not None},
        duration_ms=read_ms(doc.duration),
        transitions=doc.transitions,
    )


def read_draft(draft: Any) -> DraftFacts:
    if isinstance(draft, str):
        if looks_like_v3(draft):
            return read_v3_draft(draft)
        parsed = json_load(draft)
        if isinstance(parsed, Mapping):
            return read_json_draft(parsed)
        return DraftFacts(problem="it is text that is neither a JSON draft nor a Draft V3 document")
    if isinstance(draft, Mapping):
        if "timeline_draft" in draft and not any(k in draft for k in TRACKS_KEYS):
            nested = json_load(draft.get("timeline_draft"))
            if isinstance(nested, Mapping):
                return read_json_draft(nested)
        return read_json_draft(draft)
    return DraftFacts(problem=f"it is a {type(draft).__name__}, not a JSON object or document")


def present(draft: Any) -> bool:
    """Is there a draft at all? (None, "" and [] mean no draft; {} is an empty one.)"""
    if draft is None:
        return False
    if isinstance(draft, str | list | tuple):
        return bool(draft.strip() if isinstance(draft, str) else draft)
    return True
