"""Fixtures for the MCP server tests: a fast emulator on a real loopback socket (reset per test),
settings pointing at it with private folders, and the server under test with a short render poll
interval and short turn-recovery waits."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from nemo_server_helpers import Folders

from nemo_mcp import constants
from nemo_mcp.config import Settings
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from nemo_mcp.mcp.server import build_server
from support.emulator import FAST, fast_studio
from support.results import ToolClient


@pytest.fixture(scope="session")
def song_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.make_song(tmp_path_factory.mktemp("songs") / "song.mp3", 6.0, bpm=120)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries keep their logic but not their wall-clock waits."""
    monkeypatch.setattr(constants, "RETRY_BASE_DELAY", 0.01)
    monkeypatch.setattr(constants, "RETRY_JITTER", 0.01)
    monkeypatch.setattr(constants, "RATE_LIMIT_RETRY_DELAY", 0.05)


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(**FAST) as server:
        yield server


@pytest.fixture
def emu(shared_emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The emulator, reset: no users, sessions, renders, faults or recorded requests, and the
    fast settings back. (Tests needing other start-up settings run their own.)"""
    shared_emulator.reset()
    yield shared_emulator
    with shared_emulator.state.lock:  # free the render worker for the next test
        for render in shared_emulator.state.renders.values():
            render.cancel_requested = True


@pytest.fixture
def folders(tmp_path: Path, song_cache: Path) -> Folders:
    media = tmp_path / "media"
    media.mkdir()
    song = media / "my-song.mp3"
    shutil.copyfile(song_cache, song)
    return Folders(
        root=tmp_path, home=tmp_path / "state", out=tmp_path / "out", media=media, song=song
    )


@pytest.fixture
def settings(emu: EmulatorServer, folders: Folders) -> Settings:
    return Settings.from_env(folders.env(emu.url))


@pytest.fixture
def server(settings: Settings) -> MCPServer:
    return build_server(settings, studio_factory=fast_studio)


@pytest.fixture(params=["legacy", "auto"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def mcp(server: MCPServer, mode: str) -> AsyncIterator[ToolClient]:
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        recorder = ToolClient(client)
        await recorder.load_schemas()
        yield recorder
