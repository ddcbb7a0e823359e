"""One emulator: its state, render queue, background chat turns and tracked connections."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio

from nemo_mcp.addresses import is_loopback
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.http import Connections
from nemo_mcp.emulator.render.queue import RenderQueue
from nemo_mcp.emulator.state import EmulatorState

ControlCheck = Callable[[str | None], bool]


class Emulator:
    """One emulator: its state, render queue, background turns and tracked connections."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        control_allowed: ControlCheck = is_loopback,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.initial_config = config
        self.state = EmulatorState(config, clock=clock)
        self.connections = Connections()
        self.renders = RenderQueue(self.state)
        self.control_allowed = control_allowed
        self.stopping = threading.Event()  # set when the server is shutting down
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def set_config(self, changes: dict[str, Any]) -> EmulatorConfig:
        new = self.config.updated(changes)
        self.state.set_config(new)
        return new

    def reset(self) -> None:
        """Forget everything; settings back to those the emulator started with."""
        self.state.set_config(self.initial_config)
        self.state.reset()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def apply_delta(self, session_id: str, delta: dict[str, Any]) -> None:
        with self.state.changing():
            sess = self.state.sessions.get(session_id)
            if sess is None:
                return
            for key, value in delta.items():
                if key in ("draft", "canvas_config", "video_analyses", "generated_media"):
                    setattr(sess, key, value)
            sess.updated_at = self.state.clock()

    async def startup(self) -> None:
        self.renders.resume()

    async def shutdown(self) -> None:
        self.stopping.set()
        for task in list(self._tasks):
            task.cancel()
        await anyio.to_thread.run_sync(self.renders.close)
        self.state.close()
