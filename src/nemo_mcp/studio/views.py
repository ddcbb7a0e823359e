"""What the service returns: typed results shared by the MCP server and the CLI.

Views hold facts only, for programs (MCP ``structuredContent``, ``--json``). What a person or a
model reads is written from them by each face in its own words: the sentences in ``texts.py``,
the next steps in ``next_steps.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

from nemo_mcp import constants
from nemo_mcp.store.records import RenderRecordStatus as RenderStatusName
from nemo_mcp.store.records import TurnStatus


class CreditsNote(BaseModel):
    """The balance around a request, when it was read."""

    available: float
    spent: float | None = None  # by this request
    next_request: Literal["generation", "edit"] | None = None  # likely next: for estimates
    registration_url: str | None = None

    @property
    def needed(self) -> int | None:
        """About what the likely next request costs (an estimate)."""
        return estimated_cost(self.next_request) if self.next_request else None

    @property
    def short(self) -> bool:
        """The balance cannot cover the likely next request (by the estimate)."""
        needed = self.needed
        return needed is not None and self.available < needed


def estimated_cost(request: Literal["generation", "edit"]) -> int:
    return constants.GENERATION_CREDITS if request == "generation" else constants.EDIT_CREDITS


class SessionView(BaseModel):
    session_id: str
    task_id: str | None = None
    language: str = "en"
    created_at: float
    current: bool = False
    gone: bool = False
    title: str | None = None


class NewSessionView(SessionView):
    """A session just started."""


class SessionList(BaseModel):
    sessions: list[SessionView]
    current_session_id: str | None = None


class MediaItem(BaseModel):
    name: str
    kind: str  # video, image or audio
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = None


class UploadedItem(MediaItem):
    source: Literal["file", "url"]
    size_bytes: int | None = None


class UploadResult(BaseModel):
    session_id: str
    uploaded: list[UploadedItem]
    notices: list[str] = []
    credits: CreditsNote | None = None


class TrackView(BaseModel):
    index: int
    kind: str
    label: str
    start_s: float
    end_s: float
    volume_pct: float | None = None


class StateView(BaseModel):
    session_id: str
    timeline: str  # a readable summary
    tracks: list[TrackView]
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    uploads: list[MediaItem] = []
    generated_media: list[MediaItem] = []
    export_ready: bool | None = None  # None: the draft could not be read, readiness unknown
    _balance: CreditsNote | None = PrivateAttr(default=None)

    @property
    def credits(self) -> CreditsNote | None:
        """The balance this server last read, if any: it words the next steps (no request the
        balance cannot pay for) and says when it falls short. Not part of the session's state,
        so not in the structured content."""
        return self._balance

    def with_balance(self, note: CreditsNote) -> StateView:
        self._balance = note
        return self


class CreditsView(BaseModel):
    available: float
    frozen: float
    total: float
    account: Literal["anonymous", "registered", "unknown"] = "unknown"
    registration_url: str | None = None
    export_ready: bool | None = None  # the current session's timeline


class TurnView(BaseModel):
    turn_id: str
    session_id: str
    status: TurnStatus
    done: bool
    reply: str = Field(default="", description="the editing agent's words (untrusted)")
    question: str | None = None  # the agent asks the user (status awaiting_answer)
    options: list[str] = []
    changes: list[str] = []  # what changed on the timeline, in words
    errors: list[str] = []
    timeline: str | None = None
    export_ready: bool | None = None
    elapsed_s: float = 0.0
    duplicate: bool = False  # this message was sent moments ago and not sent again
    credits: CreditsNote | None = None


class RenderView(BaseModel):
    render_id: str
    session_id: str
    status: RenderStatusName
    done: bool
    progress: float | None = None
    url: str | None = None  # NemoVideo's download link
    file: str | None = None  # the downloaded MP4
    size_bytes: int | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    reused: bool = False  # this timeline was exported before: not rendered again
    credits: CreditsNote | None = None


class Progress(BaseModel):
    """One progress note relayed to a waiting caller (MCP progress / terminal line)."""

    message: str
    progress: float | None = None
    total: float | None = None
