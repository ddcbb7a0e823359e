"""Run the emulator on a real socket in a background thread, from sync or async code.

    with EmulatorServer() as emu:                  # 127.0.0.1, a free port
        httpx.post(emu.url + "/api/auth/anonymous-token", headers={"X-Client-Id": "c1"})

    async with EmulatorServer(generation_seconds=0.2) as emu:
        emu.set_faults("state:500:times=2")
        ...

Keyword arguments other than ``host``, ``port`` and ``control_allowed`` are
:class:`EmulatorConfig` fields.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import replace
from types import TracebackType
from typing import Any, Final, Self

import anyio
import uvicorn

from nemo_mcp.addresses import is_loopback
from nemo_mcp.emulator.app import create_app
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.core import ControlCheck, Emulator
from nemo_mcp.emulator.faults import Fault
from nemo_mcp.emulator.http import tracked_protocol
from nemo_mcp.emulator.records import Render, RequestRecord, User
from nemo_mcp.emulator.render.queue import FORCED_FAILURE
from nemo_mcp.emulator.state import EmulatorState

log = logging.getLogger(__name__)

START_TIMEOUT: Final = 15.0
STOP_TIMEOUT: Final = 10.0
GRACEFUL_SHUTDOWN: Final = 2.0


class EmulatorServer:
    """The emulator served by uvicorn on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control_allowed: ControlCheck = is_loopback,
        log_level: int = logging.WARNING,
        **overrides: Any,
    ) -> None:
        cfg = config or EmulatorConfig()
        if overrides:
            cfg = replace(cfg, **overrides)
        self.host = host
        self.port = port
        self.log_level = log_level
        self.app = create_app(cfg, control_allowed=control_allowed)
        self.emulator: Emulator = self.app.state.emulator
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._used = False

    # --- handles ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> EmulatorState:
        return self.emulator.state

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> Self:
        """Listen and serve in a background thread; returns once connections are accepted.

        A server runs once: after :meth:`stop`, make a new one (with the same ``data_dir`` to
        keep the state).
        """
        if self.running:
            return self
        if self._used:
            raise RuntimeError("an EmulatorServer runs once; create a new one to serve again")
        self._used = True
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            http=tracked_protocol(self.emulator.connections),
            loop="asyncio",  # the connection tracking needs asyncio transports, not uvloop's
            ws="none",
            lifespan="on",
            log_config=None,
            log_level=self.log_level,
            access_log=False,
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN),
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="nemo-emulator", daemon=True
        )
        self.emulator.stopping.clear()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                sock.close()
                raise RuntimeError("the emulator failed to start (see the log)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the emulator did not start within {timeout} s")
            time.sleep(0.01)
        with socket.create_connection((self.host, self.port), timeout=timeout):
            pass
        log.info("emulator listening on %s", self.url)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.emulator.stopping.set()
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)

    def serve_forever(self, stop: threading.Event) -> None:
        """Start, then block until ``stop`` is set (used by the CLI)."""
        self.start()
        try:
            while not stop.wait(0.5):
                if not self.running:
                    raise RuntimeError("the emulator stopped unexpectedly")
        finally:
            self.stop()

    # --- helpers for tests ------------------------------------------------------------------------
    def set_faults(
        self, *faults: str | dict[str, Any] | Fault, replace: bool = True
    ) -> list[Fault]:
        """Install faults (spec strings, dicts or :class:`Fault`); ``replace`` clears first."""
        if replace:
            self.state.faults.clear()
        return self.state.faults.add(*faults)

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def set_config(self, **changes: Any) -> EmulatorConfig:
        return self.emulator.set_config(changes)

    def requests(self, path: str | None = None, endpoint: str | None = None) -> list[RequestRecord]:
        return self.state.recorded(path=path, endpoint=endpoint)

    def clear_requests(self) -> None:
        self.state.clear_requests()

    def reset(self) -> None:
        self.emulator.reset()

    def user_of(self, token: str) -> User:
        return self.state.authenticate(f"Bearer {token}")

    def expire_token(self, token: str | None = None, user_id: str | None = None) -> int:
        return self.state.expire_tokens(token=token, user_id=user_id)

    def set_credits(
        self,
        available: int,
        *,
        token: str | None = None,
        user_id: str | None = None,
        frozen: int | None = None,
    ) -> User:
        if user_id is None:
            if token is None:
                raise ValueError("pass token= or user_id=")
            user_id = self.user_of(token).user_id
        return self.state.set_credits(user_id, available, frozen)

    def delete_session(self, session_id: str) -> bool:
        return self.state.delete_session(session_id)

    def render(self, render_id: str) -> Render | None:
        return self.state.get_render(render_id)

    def fail_render(self, render_id: str, reason: str = FORCED_FAILURE) -> None:
        render = self.state.get_render(render_id)
        if render is None:
            raise KeyError(render_id)
        self.emulator.renders.fail_now(render, reason)

    def session(self, session_id: str) -> dict[str, Any] | None:
        """A copy of a session's state (draft, video_infos...), or None."""
        with self.state.lock:
            sess = self.state.sessions.get(session_id)
            if sess is None:
                return None
            return {
                "session_id": sess.session_id,
                "task_id": sess.task_id,
                "user_id": sess.user_id,
                "turns": sess.turns,
                "draft": sess.draft,
                "video_infos": list(sess.video_infos),
                "generated_media": list(sess.generated_media),
                "canvas_config": dict(sess.canvas_config),
            }
