"""What changed between two reads of a session's state, in words.

Works on :class:`~nemo_mcp.timeline.model.Timeline` objects, so a JSON draft and a Draft V3
document are compared the same way. Labels are quoted (see ``timeline.quote``). When either
draft could not be read, no track-by-track diff is guessed: one line says the draft changed and
why it could not be read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO
from nemo_mcp.timeline.model import Timeline
from nemo_mcp.timeline.tracks import Segment, Track
from nemo_mcp.timeline.values import fmt_percent, fmt_range, format_seconds, quote

__all__ = ["MAX_DIFF_LINES", "diff_states"]

MAX_DIFF_LINES: Final = 20
_NO_TEXT: Final = "(no text)"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _quoted(label: str | None) -> str:
    return f" {label}" if label else ""


def _span(segments: Iterable[Segment]) -> str:
    items = list(segments)
    if not items:
        return ""
    start = min(s.start_ms for s in items)
    end = max(s.end_ms for s in items)
    return f" {fmt_range(start, end, ' s')}"


def _track_label(track: Track) -> str | None:
    """The track's first label, quoted (``"a", …`` when there are more)."""
    labels = track.labels()
    if not labels:
        return None
    return quote(labels[0]) if len(labels) == 1 else f"{quote(labels[0])}, …"


def _in_group(timeline: Timeline, group: tuple[int | None, str | None]) -> list[Track]:
    return [t for t in timeline.tracks if t.group == group]


def _track_word(track: Track) -> str:
    role = track.role
    return role if role in ("BGM", "SFX") else f"{role.lower()} track"


def _diff_titles(before: Timeline, after: Timeline) -> list[str]:
    def titles(timeline: Timeline) -> dict[str | None, list[Segment]]:
        out: dict[str | None, list[Segment]] = {}
        for track in timeline.tracks:
            if track.type_code == TRACK_TEXT:
                for segment in track.segments:
                    out.setdefault(segment.words, []).append(segment)
        return out

    def shown(text: str | None) -> str:
        return quote(text) if text else _NO_TEXT

    old, new = titles(before), titles(after)
    lines: list[str] = []
    for text, segments in new.items():
        previous = old.get(text, [])
        for segment in segments[len(previous) :]:
            lines.append(
                f"added title {shown(text)} {fmt_range(segment.start_ms, segment.end_ms, ' s')}"
            )
        if len(previous) == 1 and len(segments) == 1:
            a, b = previous[0], segments[0]
            if (a.start_ms, a.end_ms) != (b.start_ms, b.end_ms):
                lines.append(
                    f"title {shown(text)} moved {fmt_range(a.start_ms, a.end_ms, ' s')} -> "
                    f"{fmt_range(b.start_ms, b.end_ms, ' s')}"
                )
    for text, segments in old.items():
        for _ in segments[len(new.get(text, [])) :]:
            lines.append(f"removed title {shown(text)}")
    return lines


def _diff_tracks(before: Timeline, after: Timeline) -> list[str]:
    lines: list[str] = []
    groups: list[tuple[int | None, str | None]] = []
    for track in (*before.tracks, *after.tracks):
        if track.type_code != TRACK_TEXT and track.group not in groups:
            groups.append(track.group)
    for group in groups:
        old, new = _in_group(before, group), _in_group(after, group)
        for i in range(max(len(old), len(new))):
            if i >= len(old):
                track = new[i]
                line = (
                    f"added {_track_word(track)}{_quoted(_track_label(track))}"
                    f"{_span(track.segments)}"
                )
                volume = track.effective_volume
                if track.type_code == TRACK_AUDIO and volume is not None:
                    line += f" ({fmt_percent(volume)})"
                lines.append(line)
                continue
            if i >= len(new):
                track = old[i]
                lines.append(f"removed {_track_word(track)}{_quoted(_track_label(track))}")
                continue
            lines.extend(_diff_track(old[i], new[i]))
    return lines


def _diff_track(a: Track, b: Track) -> list[str]:
    lines: list[str] = []
    role = b.role if b.type_code == TRACK_AUDIO else a.kind
    la, lb = _track_label(a), _track_label(b)
    if len(a.segments) != len(b.segments):
        noun = b.noun
        lines.append(f"{role} {_plural(len(a.segments), noun)} -> {_plural(len(b.segments), noun)}")
    elif la != lb and (la or lb):
        lines.append(f"{role} {la or '?'} -> {lb or '?'}")
    if b.type_code != TRACK_VIDEO:
        va, vb = a.effective_volume, b.effective_volume
        if vb is not None and va != vb and (va is None or round(va * 100) != round(vb * 100)):
            if va is None:
                lines.append(f"{role} volume set to {fmt_percent(vb)}")
            else:
                lines.append(f"{role} volume {fmt_percent(va)} -> {fmt_percent(vb)}")
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


def _diff_shape(old: Timeline, new: Timeline) -> list[str]:
    lines: list[str] = []
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
            f"project title {quote(old.title)} -> {quote(new.title)}"
            if old.title
            else f"project title set to {quote(new.title)}"
        )
    if old.transitions != new.transitions:
        delta = new.transitions - old.transitions
        verb = "added" if delta > 0 else "removed"
        lines.append(f"{verb} {_plural(abs(delta), 'transition')}")
    return lines


def _diff_unreadable(old: Timeline, new: Timeline) -> list[str]:
    """Either draft could not be read: say so once, never guess a track-by-track diff."""
    if old.draft_fingerprint == new.draft_fingerprint:
        return []
    if new.draft_problem is not None:
        return [f"the draft changed, but the new draft could not be read ({new.draft_problem})"]
    return ["the draft changed and can be read again"]


def diff_states(
    before: Mapping[str, Any] | Timeline | None, after: Mapping[str, Any] | Timeline | None
) -> list[str]:
    """What changed between two state reads, in words; ``[]`` means nothing we can see.

    ``None`` stands for an empty session (no draft, no media). Draft changes that are not
    modelled (effects, styles, ...) still produce a generic line, so a non-empty draft change is
    never reported as "no change".
    """
    old = before if isinstance(before, Timeline) else Timeline.from_state(before)
    new = after if isinstance(after, Timeline) else Timeline.from_state(after)
    lines: list[str] = []
    if old.has_draft and not new.has_draft:
        lines.append("timeline cleared")
    elif new.draft_problem is not None or (old.draft_problem is not None and new.has_draft):
        lines.extend(_diff_unreadable(old, new))
    else:
        lines.extend(_diff_tracks(old, new))
        lines.extend(_diff_titles(old, new))
    lines.extend(_diff_shape(old, new))
    draft_lines = bool(lines)
    lines.extend(_diff_media(old, new))
    if not draft_lines and old.draft_fingerprint != new.draft_fingerprint and new.has_draft:
        lines.insert(0, "timeline edited (effects, transitions or other details)")
    if len(lines) > MAX_DIFF_LINES:
        extra = len(lines) - MAX_DIFF_LINES + 1
        lines = [*lines[: MAX_DIFF_LINES - 1], f"and {extra} more changes"]
    return lines
