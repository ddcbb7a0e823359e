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
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from nemo_mcp.contract import codes
from nemo_mcp.emulator.accounts import Accounts
from nemo_mcp.emulator.config import DEFAULT_HEIGHT, DEFAULT_WIDTH, EmulatorConfig
from nemo_mcp.emulator.envelope import Reject
from nemo_mcp.emulator.faults import FaultBook
from nemo_mcp.emulator.records import (
    Claim,
    Media,
    Render,
    RequestRecord,
    Session,
    Token,
    User,
    load,
    masked,
    new_session_id,
)

log = logging.getLogger(__name__)

STATE_FILE: Final = "state.json"
STATE_VERSION: Final = 1


def _safe_name(name: str, fallback: str = "file") -> str:
    base = Path(name.replace("\\", "/")).name.strip()
    base = re.sub(r"[^\w.\- ()\[\]]+", "_", base, flags=re.UNICODE).strip(" .")
    return base[:120] or fallback


class EmulatorState(Accounts):
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
            user = load(User, u)
            self.users[user.user_id] = user
        for t in data.get("tokens", []):
            tok = load(Token, t)
            self.tokens[tok.token] = tok
        self.clients = dict(data.get("clients", {}))
        self.ip_log = {k: list(v) for k, v in data.get("ip_log", {}).items()}
        for s in data.get("sessions", []):
            sess = load(Session, s)
            self.sessions[sess.session_id] = sess
        for m in data.get("media", []):
            med = load(Media, m)
            self.media[med.media_id] = med
        for r in data.get("renders", []):
            ren = load(Render, r)
            self.renders[ren.render_id] = ren
        for c in data.get("claims", []):
            claim = load(Claim, c)
            self.claims[claim.claim_token] = claim

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock for a change and save afterwards."""
        with self.lock:
            yield
            self.save()

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

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

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
                    {**asdict(t), "token": masked("Bearer " + t.token)[7:]}
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
