"""A draft's tracks and segments, read from either shape into one model, and described."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO
from nemo_mcp.timeline.draft_v3 import V3Track
from nemo_mcp.timeline.fields import (
    DURATION_KEYS,
    END_KEYS,
    KNOWN_SEGMENT_KEYS,
    KNOWN_TRACK_KEYS,
    MAX_LABELS_PER_TRACK,
    MAX_SEGMENTS,
    NAME_KEYS,
    SEGMENT_KEYS,
    SFX_WORDS,
    SRC_KEYS,
    START_KEYS,
    TEXT_KEYS,
    TYPE_KEYS,
    TYPE_WORDS,
    VOICE_WORDS,
    VOLUME_KEYS,
)
from nemo_mcp.timeline.values import (
    deep_first_of,
    first_of,
    fmt_percent,
    fmt_range,
    label_of,
    quote,
    read_ms,
    read_number,
    read_volume,
    stem_of,
    text_of,
)
from nemo_mcp.untrusted import clean_label


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
        return self.name or self.text or (stem_of(self.src) if self.src else None)

    @property
    def words(self) -> str | None:
        """What a title or text segment says (its text, else its name)."""
        return self.text or self.name

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], default_start: int) -> Segment:
        start = read_ms(first_of(raw, START_KEYS))
        duration = read_ms(first_of(raw, DURATION_KEYS))
        if duration is None and start is not None:
            end = read_ms(first_of(raw, END_KEYS))
            if end is not None and end >= start:
                duration = end - start
        src = deep_first_of(raw, SRC_KEYS)
        return cls(
            duration_ms=duration,
            start_ms=start if start is not None else default_start,
            name=label_of(raw, NAME_KEYS),
            text=label_of(raw, TEXT_KEYS),
            src=src if isinstance(src, str) else None,
            volume=read_volume(deep_first_of(raw, VOLUME_KEYS)),
            extra={k: v for k, v in raw.items() if k not in KNOWN_SEGMENT_KEYS},
        )


def type_of(value: Any) -> tuple[int | None, str | None]:
    """(type code, type word) from a track's ``tt``: a number, or a word such as "bgm"."""
    number = read_number(value)
    if number is not None:
        return (int(number) if number.is_integer() else None), None
    if isinstance(value, str):
        word = clean_label(value, 24).lower()
        if word:
            code, _ = TYPE_WORDS.get(word, (None, None))
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
            _, fixed = TYPE_WORDS.get(self.type_name, (None, None))
            if fixed:
                return fixed
        if self.type_code == TRACK_VIDEO:
            return "Video"
        if self.type_code == TRACK_AUDIO:
            hay = " ".join(
                x.lower() for x in (self.name, *(s.label for s in self.segments[:3])) if x
            )
            if any(w in hay for w in VOICE_WORDS):
                return "Voice"
            if any(w in hay for w in SFX_WORDS):
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
        type_code, type_name = type_of(first_of(raw, TYPE_KEYS))
        raw_segments = first_of(raw, SEGMENT_KEYS)
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
            name=label_of(raw, NAME_KEYS),
            volume=read_volume(deep_first_of(raw, VOLUME_KEYS)),
            extra={k: v for k, v in raw.items() if k not in KNOWN_TRACK_KEYS},
            type_name=type_name,
        )

    @classmethod
    def from_v3(cls, raw: V3Track) -> Track:
        code, _ = TYPE_WORDS.get(raw.type or "", (None, None))
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
                name=text_of(clip.name),
                text=text_of(clip.text),
                src=clip.src,
                volume=read_volume(clip.volume),
                extra={"id": clip.clip_id, "media": clip.media},
            )
            segments.append(segment)
            cursor = segment.end_ms
        return cls(
            type_code=code,
            segments=tuple(segments),
            name=text_of(raw.name),
            volume=read_volume(raw.volume),
            extra={"id": raw.track_id},
            type_name=name or None,
        )

    def what(self) -> str:
        """The track's content in a few words: ``"city timelapse"``, ``2 clips: "a", "b"``."""
        if not self.segments:
            return "empty"
        if self.type_code == TRACK_TEXT:
            texts = [words_of(s) for s in self.segments[:MAX_LABELS_PER_TRACK]]
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
                parts.append(f"{words_of(segment)} ({fmt_range(segment.start_ms, segment.end_ms)})")
            more = len(self.segments) - MAX_LABELS_PER_TRACK
            tail = f" +{more} more" if more > 0 else ""
            return f"{role}: " + ", ".join(parts) + tail
        details = [fmt_range(self.start_ms, self.end_ms)]
        volume = self.effective_volume
        if self.type_code != TRACK_VIDEO and volume is not None:
            details.append(fmt_percent(volume))
        return f"{role}: {self.what()} ({', '.join(details)})"


def words_of(segment: Segment) -> str:
    """A title segment's words in quotes, or an honest "(no text)"."""
    words = segment.words
    return quote(words) if words else "(no text)"
