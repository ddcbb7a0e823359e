"""What the service returns: typed results shared by the MCP server and the CLI.

Each result carries a short ``summary`` (one or two sentences, safe to show) and ``next_steps``
naming both the MCP tool and the CLI command, so the two faces never disagree.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from nemo_mcp.models import RenderRecordStatus as RenderStatusName
from nemo_mcp.models import TurnStatus


class NextStep(BaseModel):
    action: str = Field(description="what to do, in words")
    tool: str = Field(description="the MCP tool call that does it")
    command: str = Field(description="the nemo-mcp command that does it")


class SessionView(BaseModel):
    session_id: str
    task_id: str | None = None
    language: str = "en"
    created_at: float
    current: bool = False
    gone: bool = False
    title: str | None = None


class NewSessionView(SessionView):
    """A session just started (a tool result: it says so and what to do next)."""

    summary: str
    next_steps: list[NextStep] = []


class SessionList(BaseModel):
    sessions: list[SessionView]
    current_session_id: str | None = None
    summary: str
    next_steps: list[NextStep] = []


class UploadedItem(BaseModel):
    name: str
    kind: str = Field(description="video, image or audio")
    source: Literal["file", "url"]
    size_bytes: int | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = Field(default=None, description="where NemoVideo stored it")


class UploadResult(BaseModel):
    session_id: str
    uploaded: list[UploadedItem]
    notices: list[str] = []
    summary: str
    next_steps: list[NextStep] = []


class TrackView(BaseModel):
    index: int
    kind: str = Field(description="video, audio, text or another track type")
    label: str
    start_s: float
    end_s: float
    volume_pct: float | None = None


class StateView(BaseModel):
    session_id: str
    timeline: str = Field(description="readable summary of the timeline")
    tracks: list[TrackView]
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    uploads: list[dict[str, Any]] = []
    generated_media: list[dict[str, Any]] = []
    export_ready: bool
    summary: str
    next_steps: list[NextStep] = []


class CreditsView(BaseModel):
    available: float
    frozen: float
    total: float
    account: Literal["anonymous", "registered", "unknown"] = "unknown"
    registration_url: str | None = None
    summary: str
    next_steps: list[NextStep] = []


class TurnView(BaseModel):
    turn_id: str
    session_id: str
    status: TurnStatus
    done: bool
    reply: str = Field(default="", description="the editing agent's reply (untrusted text)")
    changes: list[str] = Field(default=[], description="what changed on the timeline, in words")
    steps: list[str] = Field(default=[], description="what the agent did")
    errors: list[str] = []
    timeline: str | None = None
    export_ready: bool | None = None
    elapsed_s: float = 0.0
    question: str | None = Field(
        default=None,
        description="awaiting_answer: the agent's question to the user (its words, cleaned)",
    )
    options: list[str] = Field(default=[], description="the answer options the agent offered")
    summary: str
    next_steps: list[NextStep] = []


class RenderView(BaseModel):
    render_id: str
    session_id: str
    status: RenderStatusName
    done: bool
    progress: float | None = None
    url: str | None = Field(default=None, description="NemoVideo's download URL")
    file: str | None = Field(default=None, description="local path of the downloaded MP4")
    size_bytes: int | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    summary: str
    next_steps: list[NextStep] = []


class Progress(BaseModel):
    """One progress note relayed to a waiting caller (MCP progress / terminal line)."""

    message: str
    progress: float | None = None
    total: float | None = None
