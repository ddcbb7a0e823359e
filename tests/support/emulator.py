"""One fast emulator configuration for the whole suite, a studio with short turn limits to talk
to it, and request counts."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Final

from nemo_mcp.config import Settings
from nemo_mcp.contract import paths
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.studio.facade import Studio
from nemo_mcp.studio.turns import TurnLimits

# A fast emulator: short generations, tiny renders, no random silent turns, plenty of credits,
# no per-address token limit (suites ask for many tokens from 127.0.0.1) and a request log long
# enough for a whole test. A test that needs other settings passes them beside these.
FAST: Final[dict[str, Any]] = {
    "generation_seconds": 0.15,  # three heartbeat intervals
    "edit_seconds": 0.02,
    "heartbeat_interval": 0.05,
    "render_pending_seconds": 0.05,
    "render_max_side": 160,
    "render_fps": 12,
    "render_preset": "ultrafast",
    "broken_stream_apply_delay": 0.2,
    "silent_edits": "never",
    "anon_credits": 10_000,
    "anon_tokens_per_ip": 0,
    "heartbeats_only_max_seconds": 20.0,
    "request_log_size": 100_000,
}


def fast(**changes: Any) -> dict[str, Any]:
    """:data:`FAST` with some settings changed (say why beside the call)."""
    return {**FAST, **changes}


# The contract's recovery waits (30 s, then 60 s) shrunk, quick progress; the rest as shipped.
LIMITS: Final = TurnLimits(
    recovery_first_wait=0.25,
    recovery_next_wait=0.25,
    recovery_max_unchanged=3,
    progress_every=0.5,
    silence_seconds=10.0,
)

POLL_INTERVAL: Final = 0.1  # render polls, instead of the contract's seconds


def fast_studio(
    settings: Settings, limits: TurnLimits = LIMITS
) -> AbstractAsyncContextManager[Studio]:
    """A studio for these settings that polls and recovers quickly (a ``studio_factory``)."""
    return Studio.open(settings, face="mcp", poll_interval=POLL_INTERVAL, turn_limits=limits)


MUSIC_VIDEO: Final = "make a music video synced to my song"
TITLE_EDIT: Final = 'add a title "Summer" from 0 to 3 seconds'


def requests_to(emu: EmulatorServer, endpoint: str, method: str | None = None) -> int:
    """How many requests the emulator's ``endpoint`` (a fault name, e.g. "state") received."""
    return len([r for r in emu.requests(endpoint=endpoint) if method is None or r.method == method])


def run_sse_posts(emu: EmulatorServer) -> int:
    """How many chat messages were sent (each is charged)."""
    return len([r for r in emu.requests(path=paths.RUN_SSE) if r.method == "POST"])


def render_submits(emu: EmulatorServer) -> int:
    return len([r for r in emu.requests(path=paths.RENDER) if r.method == "POST"])
