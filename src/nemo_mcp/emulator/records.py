"""What the emulator remembers, record by record: users, tokens, sessions, media, renders, claim
tokens and the request log. Plain dataclasses (saved as JSON by :mod:`.state`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

from nemo_mcp.contract import renders

CDN_MEDIA: Final = "/cdn/media"
CDN_RENDERS: Final = "/cdn/renders"

UserKind = Literal["anon", "registered"]


@dataclass
class User:
    user_id: str
    kind: UserKind
    available: int
    frozen: int = 0
    created_at: float = 0.0


@dataclass
class Token:
    token: str
    user_id: str
    kind: UserKind
    issued_at: float
    expires_at: float | None
    client_id: str | None = None
    ip: str | None = None


@dataclass
class Session:
    session_id: str
    task_id: str
    task_name: str
    language: str
    user_id: str
    created_at: float
    updated_at: float
    turns: int = 0
    video_infos: list[dict[str, Any]] = field(default_factory=list)
    draft: dict[str, Any] | None = None
    canvas_config: dict[str, Any] = field(default_factory=dict)
    video_analyses: dict[str, Any] = field(default_factory=dict)
    generated_media: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    # the message a question of the agent is about ({"message", "about"}); None: no question
    pending_question: dict[str, Any] | None = None


@dataclass
class Media:
    media_id: str
    session_id: str
    filename: str
    file_type: str
    rel_path: str  # under the media folder; "" when the file was not fetched
    size: int
    hash: str
    info: dict[str, Any] = field(default_factory=dict)
    source_url: str | None = None
    created_at: float = 0.0

    @property
    def cdn_path(self) -> str:
        return f"{CDN_MEDIA}/{self.media_id}/{quote(self.filename)}"


@dataclass
class Render:
    render_id: str
    session_id: str
    user_id: str
    draft: dict[str, Any]
    output: dict[str, Any]
    status: renders.RenderState = "pending"
    progress: int = 5
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    file: str | None = None  # under the renders folder
    size: int | None = None
    duration: float | None = None
    fail_reason: str | None = None  # set: the render fails when it runs (or at once)
    cancel_requested: bool = False
    received_draft: str | None = None  # a draft sent as text (Draft V3), exactly as received

    @property
    def cdn_path(self) -> str:
        return f"{CDN_RENDERS}/{quote(self.render_id)}.mp4"


@dataclass
class Claim:
    claim_token: str
    session_id: str | None
    task_id: str | None
    user_id: str
    expires_at: float


@dataclass
class RequestRecord:
    """One request as the emulator saw it (headers verbatim, lower-cased names)."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    client: str | None
    endpoint: str | None
    at: float
    status: int | None = None
    fault: str | None = None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key == lname:
                return value
        return None

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def to_dict(self, *, mask_auth: bool = True) -> dict[str, Any]:
        shown = {}
        for key, value in self.headers:
            if mask_auth and key == "authorization":
                value = masked(value)
            shown[key] = value
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": shown,
            "client": self.client,
            "endpoint": self.endpoint,
            "at": self.at,
            "status": self.status,
            "fault": self.fault,
        }


def masked(value: str) -> str:
    """An Authorization header value with most of the credential hidden."""
    scheme, _, cred = value.partition(" ")
    if not cred:
        return "***"
    return f"{scheme} {cred[:8]}…{cred[-4:]}" if len(cred) > 16 else f"{scheme} ***"


T = TypeVar("T")


def load(cls: type[T], data: dict[str, Any]) -> T:
    """A record from its saved dict, ignoring fields this version does not know."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def new_session_id() -> str:
    """A 19-digit numeric string, like the real service's."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)
