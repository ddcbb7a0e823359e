"""The draft (timeline) in the contract's JSON form, and the export-readiness rule.

``{"t": [TRACK, ...], "d": <ms>, "m": {"title", "width", "height", ...}}``; a track is
``{"tt": <type>, "sg": [SEGMENT, ...]}``. The same state endpoint may instead hand out a Draft
Protocol V3 document (an XML-like string: ``<draft>``, ``<track type>``, ``<clip in out>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

TRACKS: Final = "t"
TRACK_TYPE: Final = "tt"
SEGMENTS: Final = "sg"
DURATION: Final = "d"  # ms
META: Final = "m"

TRACK_VIDEO: Final = 0
TRACK_AUDIO: Final = 1
TRACK_TEXT: Final = 7


def export_ready(tracks_have_segments: Iterable[bool] | None) -> bool:
    """The readiness rule: the draft has a track list (``t``; in Draft V3, a ``<draft>``) and
    at least one of its tracks has segments (``sg``; ``<clip>``). Pass None for no track list.
    """
    return tracks_have_segments is not None and any(tracks_have_segments)


def json_tracks_have_segments(draft: Any) -> list[bool] | None:
    """For a draft in the JSON form as documented (no aliases): each track, has it segments?"""
    if not isinstance(draft, dict):
        return None
    tracks = draft.get(TRACKS)
    if not isinstance(tracks, list):
        return None
    return [isinstance(t, dict) and bool(t.get(SEGMENTS)) for t in tracks]
