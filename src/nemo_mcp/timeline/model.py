"""The timeline: a session's draft read into one model, whatever its shape, and told in words.

Two draft shapes are read into the same model:

- the JSON draft (api-contract 5.6): short keys ``t`` tracks, ``tt`` track type (0 video,
  1 audio, 7 text), ``sg`` segments, ``d`` duration in ms, ``m`` metadata (title, width, height).
  Nothing else about segments is documented, so every other field is guessed through aliases,
  at a segment's top level and one level down in its metadata (``m``, ``meta``, ``metadata``,
  ``props``, ...), and kept in ``extra``;
- a Draft Protocol V3 document (an XML-like string, see :mod:`nemo_mcp.timeline.draft_v3`).

A draft of any other shape, or one that cannot be read, is kept as it is (``draft``) with
``draft_problem`` saying why, in words: the summary says so instead of guessing, and an export
still sends the draft back exactly as received. Nothing here raises on odd input.

All text that reaches a summary or a diff (titles, names, file names) is untrusted: it is taken
from typed fields only, cleaned of control characters, single-lined, capped, never a bare type
word ("text", "video") posing as a name, and always shown in double quotes (which a label can
never contain), so it reads as the project's data, never as this program's own words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nemo_mcp.contract.draft import TRACK_TEXT, TRACK_VIDEO, export_ready
from nemo_mcp.timeline.fields import (
    HEIGHT_KEYS,
    MAX_SUMMARY_TRACKS,
    NAME_KEYS,
    RATIO_KEYS,
    WIDTH_KEYS,
)
from nemo_mcp.timeline.read import (
    DraftFacts,
    DraftFormat,
    GeneratedMedia,
    media_key,
    media_kind,
    media_list,
    present,
    read_draft,
    unwrap,
)
from nemo_mcp.timeline.tracks import Track
from nemo_mcp.timeline.values import (
    fingerprint,
    first_of,
    json_load,
    label_of,
    normalise_ratio,
    ratio_from_size,
    read_ms,
    text_of,
)

__all__ = ["ClipInfo", "Timeline", "TrackInfo"]

MAX_CLIPS_SHOWN = 200  # per track, in a picture of the timeline


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """One clip (segment) of a track, for a picture of the timeline: its times, its words or
    name (untrusted, cleaned), its volume."""

    start_s: float
    end_s: float
    label: str | None
    volume_pct: float | None


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
    clips: tuple[ClipInfo, ...] = ()


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
        inner, session_id = unwrap(state)
        raw_draft = inner.get("draft")
        has_draft = present(raw_draft)
        facts = read_draft(raw_draft) if has_draft else DraftFacts()
        meta = facts.meta
        canvas = json_load(inner.get("canvas_config"))
        if not isinstance(canvas, Mapping):
            canvas = {}
        width = read_ms(first_of(meta, WIDTH_KEYS)) or read_ms(first_of(canvas, WIDTH_KEYS))
        height = read_ms(first_of(meta, HEIGHT_KEYS)) or read_ms(first_of(canvas, HEIGHT_KEYS))
        ratio = first_of(meta, RATIO_KEYS) or first_of(canvas, RATIO_KEYS)
        uploads = tuple(media_key(item) for item in media_list(inner.get("video_infos")))
        generated = tuple(
            GeneratedMedia(
                kind=media_kind(item) if isinstance(item, Mapping) else "media",
                key=media_key(item),
                name=label_of(item, NAME_KEYS) if isinstance(item, Mapping) else None,
            )
            for item in media_list(inner.get("generated_media"))
        )
        return cls(
            tracks=facts.tracks,
            has_draft=has_draft,
            has_track_list=facts.has_track_list,
            title=text_of(first_of(meta, ("title", "name"))),
            width=width or None,
            height=height or None,
            declared_ratio=normalise_ratio(ratio),
            declared_duration_ms=facts.duration_ms or None,
            uploads=uploads,
            generated=generated,
            session_id=session_id,
            draft_fingerprint=fingerprint(raw_draft) if has_draft else "",
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
            return ratio_from_size(self.width, self.height)
        return None

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
                    clips=tuple(
                        ClipInfo(
                            start_s=s.start_ms / 1000.0,
                            end_s=s.end_ms / 1000.0,
                            label=s.words if track.type_code == TRACK_TEXT else s.label,
                            volume_pct=round(s.volume * 100, 1) if s.volume is not None else None,
                        )
                        for s in track.segments[:MAX_CLIPS_SHOWN]
                    ),
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
