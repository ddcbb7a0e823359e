"""The emulator's server-side state: users, tokens, sessions, media, renders, claim tokens.

All of it sits behind one lock, so route handlers (on the event loop), render workers (threads)
and test helpers (another thread) can share it. With a ``data_dir`` every change is written to
``state.json`` atomically (temporary file + ``os.replace``) and media and renders are kept under
``media/`` and ``renders/``; a restarted emulator picks everything up again. Without one, a
temporary folder holds the files and nothing is written as JSON.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

from nemo_mcp.contract import account, codes, headers, renders
from nemo_mcp.emulator.config import DEFAULT_HEIGHT, DEFAULT_WIDTH, EmulatorConfig
from nemo_mcp.emulator.envelope import Reject
from nemo_mcp.emulator.faults import FaultBook

log = logging.getLogger(__name__)

STATE_FILE: Final = "state.json"
STATE_VERSION: Final = 1
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
                value = _mask_auth(value)
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


def _mask_auth(value: str) -> str:
    scheme, _, cred = value.partition(" ")
    if not cred:
        return "***"
    return f"{scheme} {cred[:8]}…{cred[-4:]}" if len(cred) > 16 else f"{scheme} ***"


T = TypeVar("T")


def _load(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _safe_name(name: str, fallback: str = "file") -> str:
    base = Path(name.replace("\\", "/")).name.strip()
    base = re.sub(r"[^\w.\- ()\[\]]+", "_", base, flags=re.UNICODE).strip(" .")
    return base[:120] or fallback


def new_session_id() -> str:
    """A 19-digit numeric string, like the real service's."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


class EmulatorState:
    """Everything the emulator remembers. Thread-safe; see the module docstring."""

    def __init__(self, config: EmulatorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.faults = FaultBook()
        self.requests: collections.deque[RequestRecord] = collections.deque(
            maxlen=max(config.request_log_size, 1)
        )
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.data_dir is not None:
            self.root = Path(config.data_dir).expanduser()
            self.persistent = True
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="nemo-emulator-")
            self.root = Path(self._tmp.name)
            self.persistent = False
        self.media_dir = self.root / "media"
        self.renders_dir = self.root / "renders"
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.renders_dir.mkdir(parents=True, exist_ok=True)
        self._clear_memory()
        if self.persistent:
            self._load()
        self.sync_registered_tokens()
        self.faults.add(*config.faults)

    # --- lifecycle ------------------------------------------------------------------------
    def _clear_memory(self) -> None:
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self.clients: dict[str, str] = {}  # X-Client-Id -> anon user id
        self.ip_log: dict[str, list[float]] = {}
        self.sessions: dict[str, Session] = {}
        self.media: dict[str, Media] = {}
        self.renders: dict[str, Render] = {}
        self.claims: dict[str, Claim] = {}

    def close(self) -> None:
        with self.lock:
            self.save()
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def reset(self) -> None:
        """Forget everything (tokens, sessions, media, renders, faults, request log)."""
        with self.lock:
            self._clear_memory()
            self.faults.clear()
            self.requests.clear()
            for folder in (self.media_dir, self.renders_dir):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True, exist_ok=True)
            self.sync_registered_tokens()
            self.save()

    def set_config(self, config: EmulatorConfig) -> None:
        with self.lock:
            self.config = config
            self.sync_registered_tokens()

    def sync_registered_tokens(self) -> None:
        with self.lock:
            for tok in self.config.registered_tokens:
                if tok in self.tokens:
                    continue
                user_id = "usr_" + hashlib.sha256(tok.encode()).hexdigest()[:16]
                if user_id not in self.users:
                    self.users[user_id] = User(
                        user_id, "registered", self.config.registered_credits, 0, self.clock()
                    )
                self.tokens[tok] = Token(tok, user_id, "registered", self.clock(), None)

    # --- persistence ----------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    def save(self) -> None:
        if not self.persistent:
            return
        with self.lock:
            data = {
                "version": STATE_VERSION,
                "users": [asdict(u) for u in self.users.values()],
                "tokens": [asdict(t) for t in self.tokens.values()],
                "clients": self.clients,
                "ip_log": self.ip_log,
                "sessions": [asdict(s) for s in self.sessions.values()],
                "media": [asdict(m) for m in self.media.values()],
                "renders": [asdict(r) for r in self.renders.values()],
                "claims": [asdict(c) for c in self.claims.values()],
            }
            payload = json.dumps(data, ensure_ascii=False, indent=1)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".state.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(payload)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.state_file)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def _load(self) -> None:
        path = self.state_file
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("emulator state %s is unreadable (%s); starting empty", path, exc)
            return
        for u in data.get("users", []):
            user = _load(User, u)
            self.users[user.user_id] = user
        for t in data.get("tokens", []):
            tok = _load(Token, t)
            self.tokens[tok.token] = tok
        self.clients = dict(data.get("clients", {}))
        self.ip_log = {k: list(v) for k, v in data.get("ip_log", {}).items()}
        for s in data.get("sessions", []):
            sess = _load(Session, s)
            self.sessions[sess.session_id] = sess
        for m in data.get("media", []):
            med = _load(Media, m)
            self.media[med.media_id] = med
        for r in data.get("renders", []):
            ren = _load(Render, r)
            self.renders[ren.render_id] = ren
        for c in data.get("claims", []):
            claim = _load(Claim, c)
            self.claims[claim.claim_token] = claim

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock for a change and save afterwards."""
        with self.lock:
            yield
            self.save()

    # --- auth -----------------------------------------------------------------------------
    def issue_anon_token(self, client_id: str, ip: str | None) -> tuple[Token, User]:
        now = self.clock()
        cfg = self.config
        with self.changing():
            user_id = self.clients.get(client_id)
            if user_id is not None:
                for tok in self.tokens.values():
                    if (
                        tok.client_id == client_id
                        and tok.expires_at is not None
                        and tok.expires_at > now
                    ):
                        retry = int(tok.expires_at - now) + 1
                        raise Reject(
                            429,
                            "Anonymous token limit: 1 token per client per 7 days. "
                            "Keep using the token you have.",
                            headers={"Retry-After": str(retry)},
                        )
            if ip is not None and cfg.anon_tokens_per_ip > 0:
                recent = [t for t in self.ip_log.get(ip, []) if t > now - cfg.anon_ip_window]
                if len(recent) >= cfg.anon_tokens_per_ip:
                    retry = int(min(recent) + cfg.anon_ip_window - now) + 1
                    raise Reject(
                        429,
                        "Too many anonymous tokens from this address",
                        headers={"Retry-After": str(retry)},
                    )
                self.ip_log[ip] = [*recent, now]
            if user_id is None or user_id not in self.users:
                user_id = account.ANONYMOUS_USER_PREFIX + secrets.token_hex(8)
                self.users[user_id] = User(user_id, "anon", cfg.anon_credits, 0, now)
                self.clients[client_id] = user_id
            token = Token(
                token="nmv_usr_" + secrets.token_urlsafe(32),
                user_id=user_id,
                kind="anon",
                issued_at=now,
                expires_at=now + cfg.token_lifetime,
                client_id=client_id,
                ip=ip,
            )
            self.tokens[token.token] = token
            return token, self.users[user_id]

    def authenticate(self, authorization: str | None) -> User:
        """The user behind ``Authorization: Bearer ...``; 1001 when missing/unknown/expired."""
        if not authorization:
            raise Reject(codes.TOKEN_INVALID, "Missing Authorization header")
        scheme, _, cred = authorization.strip().partition(" ")
        if scheme.lower() != headers.BEARER.lower() or not cred.strip():
            raise Reject(codes.TOKEN_INVALID, "Authorization must be 'Bearer <token>'")
        with self.lock:
            tok = self.tokens.get(cred.strip())
            if tok is None:
                raise Reject(codes.TOKEN_INVALID, "Token is invalid")
            if tok.expires_at is not None and tok.expires_at <= self.clock():
                raise Reject(codes.TOKEN_INVALID, "Token has expired")
            user = self.users.get(tok.user_id)
            if user is None:
                raise Reject(codes.TOKEN_INVALID, "Token is invalid")
            return user

    def expire_tokens(self, token: str | None = None, user_id: str | None = None) -> int:
        """Make a token (or a user's tokens, or every anonymous token) expired now."""
        now = self.clock()
        count = 0
        with self.changing():
            for tok in self.tokens.values():
                if token is not None and tok.token != token:
                    continue
                if user_id is not None and tok.user_id != user_id:
                    continue
                if token is None and user_id is None and tok.kind != "anon":
                    continue
                tok.expires_at = now - 1
                count += 1
        return count

    def token_info(self, token: str) -> Token | None:
        with self.lock:
            return self.tokens.get(token)

    # --- credits --------------------------------------------------------------------------
    def reserve(self, user_id: str, cost: int) -> bool:
        with self.changing():
            user = self.users[user_id]
            if cost > user.available:
                return False
            user.available -= cost
            user.frozen += cost
            return True

    def commit(self, user_id: str, cost: int) -> None:
        with self.changing():
            user = self.users[user_id]
            user.frozen = max(user.frozen - cost, 0)

    def refund(self, user_id: str, cost: int) -> None:
        with self.changing():
            user = self.users[user_id]
            back = min(cost, user.frozen)
            user.frozen -= back
            user.available += back

    def set_credits(self, user_id: str, available: int, frozen: int | None = None) -> User:
        with self.changing():
            user = self.users.get(user_id)
            if user is None:
                raise KeyError(user_id)
            user.available = int(available)
            if frozen is not None:
                user.frozen = int(frozen)
            return user

    # --- sessions -------------------------------------------------------------------------
    def create_session(self, user_id: str, task_name: str, language: str) -> Session:
        now = self.clock()
        with self.changing():
            sid = new_session_id()
            while sid in self.sessions:
                sid = new_session_id()
            sess = Session(
                session_id=sid,
                task_id="task_" + secrets.token_hex(8),
                task_name=task_name,
                language=language,
                user_id=user_id,
                created_at=now,
                updated_at=now,
                canvas_config={
                    "width": DEFAULT_WIDTH,
                    "height": DEFAULT_HEIGHT,
                    "aspect_ratio": "16:9",
                },
            )
            self.sessions[sid] = sess
            return sess

    def session_for(self, session_id: str, user_id: str) -> Session:
        """The user's session; 1002 if it does not exist or belongs to someone else."""
        with self.lock:
            sess = self.sessions.get(session_id)
            if sess is None or sess.user_id != user_id:
                raise Reject(codes.SESSION_NOT_FOUND, f"Session not found: {session_id}")
            return sess

    def find_session(self, session_id: str) -> Session | None:
        with self.lock:
            return self.sessions.get(session_id)

    def delete_session(self, session_id: str) -> bool:
        with self.changing():
            return self.sessions.pop(session_id, None) is not None

    def touch(self, sess: Session) -> None:
        with self.changing():
            sess.updated_at = self.clock()

    # --- media ----------------------------------------------------------------------------
    def new_media_slot(self, filename: str) -> tuple[str, str, Path]:
        """A fresh media id, its safe file name, and where to write the file."""
        media_id = "m_" + secrets.token_hex(8)
        name = _safe_name(filename)
        folder = self.media_dir / media_id
        folder.mkdir(parents=True, exist_ok=True)
        return media_id, name, folder / name

    def add_media(self, media: Media) -> None:
        with self.changing():
            self.media[media.media_id] = media

    def media_path(self, media_id: str) -> Path | None:
        with self.lock:
            med = self.media.get(media_id)
        if med is None or not med.rel_path:
            return None
        path = self.media_dir / med.rel_path
        return path if path.is_file() else None

    def discard_media_folder(self, media_id: str) -> None:
        shutil.rmtree(self.media_dir / media_id, ignore_errors=True)

    # --- renders --------------------------------------------------------------------------
    def render_file(self, render_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", render_id)[:80] or "render"
        if safe != render_id:
            safe += "_" + hashlib.sha256(render_id.encode()).hexdigest()[:8]
        return self.renders_dir / f"{safe}.mp4"

    def add_render(self, render: Render) -> None:
        with self.changing():
            if render.render_id in self.renders:
                raise Reject(
                    409,
                    f"Render id {render.render_id!r} already exists; use a new id",
                )
            self.renders[render.render_id] = render

    def get_render(self, render_id: str) -> Render | None:
        with self.lock:
            return self.renders.get(render_id)

    def update_render(self, render: Render, **changes: Any) -> None:
        with self.changing():
            for key, value in changes.items():
                setattr(render, key, value)

    # --- claim tokens ---------------------------------------------------------------------
    def claim_for(self, user_id: str, session_id: str | None, task_id: str | None) -> Claim:
        now = self.clock()
        with self.changing():
            for claim in self.claims.values():
                if (
                    claim.user_id == user_id
                    and claim.session_id == session_id
                    and claim.task_id == task_id
                    and claim.expires_at > now + 60
                ):
                    return claim
            claim = Claim(
                claim_token="clm_" + secrets.token_urlsafe(24),
                session_id=session_id,
                task_id=task_id,
                user_id=user_id,
                expires_at=now + self.config.claim_token_lifetime,
            )
            self.claims[claim.claim_token] = claim
            return claim

    # --- request log ----------------------------------------------------------------------
    def record(self, rec: RequestRecord) -> None:
        with self.lock:
            self.requests.append(rec)

    def recorded(self, path: str | None = None, endpoint: str | None = None) -> list[RequestRecord]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (path is None or r.path == path) and (endpoint is None or r.endpoint == endpoint)
            ]

    def snapshot(self) -> dict[str, Any]:
        """Everything except tokens' full values, for ``GET /_emulator/state``."""
        with self.lock:
            return {
                "users": [asdict(u) for u in self.users.values()],
                "tokens": [
                    {**asdict(t), "token": _mask_auth("Bearer " + t.token)[7:]}
                    for t in self.tokens.values()
                ],
                "sessions": [asdict(s) for s in self.sessions.values()],
                "media": [asdict(m) for m in self.media.values()],
                "renders": [
                    {k: v for k, v in asdict(r).items() if k not in ("draft", "received_draft")}
                    for r in self.renders.values()
                ],
                "faults": [f.to_dict() for f in self.faults.list()],
            }
