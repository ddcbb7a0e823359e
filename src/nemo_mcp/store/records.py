"""What the store keeps: plain frozen records, the same whichever backend holds them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Credential",
    "CredentialSource",
    "RenderRecord",
    "RenderRecordStatus",
    "SessionRecord",
    "TurnClaim",
    "TurnClaimOutcome",
    "TurnRecord",
    "TurnStatus",
]

CredentialSource = Literal["anonymous", "login"]
RenderRecordStatus = Literal[
    "submitting", "pending", "processing", "completed", "failed", "cancelled", "downloaded"
]
TurnStatus = Literal[
    "running",
    "replied",
    "silent_changed",
    "silent_unchanged",
    "recovered",
    "lost",
    "failed",
    "awaiting_answer",
    "timed_out",
    "interrupted",
]


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class Credential:
    """A NemoVideo bearer token and what we know about it. ``repr`` never shows the token."""

    token: str = field(repr=False)
    user_id: str | None = None
    expires_at: float | None = None  # epoch seconds; None = unknown / does not expire
    credits: int | None = None  # the balance the token endpoint reported, if any
    source: CredentialSource = "anonymous"
    obtained_at: float = field(default_factory=_now)

    def is_fresh(self, now: float, margin: float) -> bool:
        """True unless the token expires within ``margin`` seconds of ``now``."""
        return self.expires_at is None or self.expires_at - margin > now


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    task_id: str | None
    api_url: str
    language: str = "en"
    title: str | None = None
    user_id: str | None = None
    created_at: float = field(default_factory=_now)
    gone: bool = False
    last_state: str | None = None  # JSON text of the last state payload seen

    @property
    def state(self) -> dict[str, Any] | None:
        """``last_state`` decoded, or None (absent or unreadable)."""
        if not self.last_state:
            return None
        try:
            value = json.loads(self.last_state)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class RenderRecord:
    render_id: str
    session_id: str
    api_url: str
    status: RenderRecordStatus = "submitting"
    progress: float | None = None
    url: str | None = None
    output_path: str | None = None
    error: str | None = None
    attempt: int = 1
    created_at: float = field(default_factory=_now)
    updated_at: float = field(default_factory=_now)
    draft_digest: str | None = None  # what was rendered: finds a duplicate export across processes
    replaced_by: str | None = None  # the id of the one retry after this render failed
    filename: str | None = None  # the file name the export asked for (used after a restart)


@dataclass(frozen=True)
class TurnRecord:
    turn_id: str
    session_id: str
    message_preview: str = ""
    status: TurnStatus = "running"
    result_json: str | None = None
    created_at: float = field(default_factory=_now)
    updated_at: float = field(default_factory=_now)
    message_hash: str | None = None  # sha256 of the message: never resend it, across processes
    lease_until: float | None = None  # a running turn's owner renews this; past it, it is stale


TurnClaimOutcome = Literal["started", "duplicate", "busy"]


@dataclass(frozen=True)
class TurnClaim:
    """What ``claim_turn`` did: started the turn, or found the one in the way."""

    outcome: TurnClaimOutcome
    turn_id: str
