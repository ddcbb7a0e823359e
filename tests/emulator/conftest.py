"""Fixtures for the emulator tests: a fast emulator on a real loopback socket, synthetic media,
and a raw-HTTP helper bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from emu_helpers import Api, Media, make_media

from nemo_mcp.emulator import EmulatorServer
from support.emulator import FAST


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(**FAST) as server:
        yield server


@pytest.fixture
async def api(emu: EmulatorServer) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=emu.url, timeout=30.0, trust_env=False) as client:
        yield Api(client, emu)
