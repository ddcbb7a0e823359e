"""The pure core: SSE bytes in; events, turn summaries, timeline summaries and diffs out.

Nothing in this package performs I/O or reads a clock on its own (``iter_frames`` only uses the
event loop's timer for its idle timeout); callers pass the time in.
"""

from __future__ import annotations

from nemo_mcp.condense.condenser import (
    STILL_WORKING,
    ProgressNote,
    TurnCondenser,
    TurnSummary,
    human_tool_name,
)
from nemo_mcp.condense.diff import diff_states
from nemo_mcp.condense.events import AgentEvent, EventKind, parse_data, parse_frame
from nemo_mcp.condense.gui import ACTIONS, SuggestedAction, Translated, translate
from nemo_mcp.condense.router import Route, extract_paths, route
from nemo_mcp.condense.sse import IdleTimeout, SSEDecoder, SSEFrame, SSELimitError, iter_frames
from nemo_mcp.condense.timeline import Segment, Timeline, Track, TrackInfo

__all__ = [
    "ACTIONS",
    "STILL_WORKING",
    "AgentEvent",
    "EventKind",
    "IdleTimeout",
    "ProgressNote",
    "Route",
    "SSEDecoder",
    "SSEFrame",
    "SSELimitError",
    "Segment",
    "SuggestedAction",
    "Timeline",
    "Track",
    "TrackInfo",
    "Translated",
    "TurnCondenser",
    "TurnSummary",
    "diff_states",
    "extract_paths",
    "human_tool_name",
    "iter_frames",
    "parse_data",
    "parse_frame",
    "route",
    "translate",
]
