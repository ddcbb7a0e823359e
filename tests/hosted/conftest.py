"""Hosted-mode fixtures: the emulator, a song served over HTTP, a cluster of workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from support.emulator import FAST


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(**FAST) as server:
        yield server


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from workers import media_server

    folder = tmp_path_factory.mktemp("media")
    synth.make_song(folder / "song.mp3", 6.0, bpm=120)
    with media_server(folder) as base:
        yield base


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path
