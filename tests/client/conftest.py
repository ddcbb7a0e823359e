"""Fixtures for the API client tests: a fake API host (respx), instant sleeps, a sentinel token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx
from nemo_client_helpers import API, SENTINEL, SENTINEL2, WEB, Sleeps, token_body

from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.store.sqlite import SQLiteStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        api_url=API,
        web_url=WEB,
        home=tmp_path / "state",
        skill_source_override="testplatform",
        output_dir=tmp_path / "out",
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[SQLiteStore]:
    with SQLiteStore(settings.state_db) as s:
        yield s


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """The fake API host. The anonymous-token route hands out SENTINEL, then SENTINEL2."""
    with respx.mock(base_url=API, assert_all_called=False) as router:
        router.post("/api/auth/anonymous-token", name="token").mock(
            side_effect=[
                httpx.Response(200, json=token_body(SENTINEL)),
                httpx.Response(200, json=token_body(SENTINEL2)),
            ]
        )
        yield router


@pytest.fixture
async def client(
    settings: Settings, store: SQLiteStore, sleeps: Sleeps, api: respx.MockRouter
) -> AsyncIterator[NemoClient]:
    async with NemoClient(settings, store=store, sleep=sleeps) as c:
        yield c


@pytest.fixture
def no_leaks(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record at DEBUG and fail if a token shows up in any of them."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    for record in caplog.records:
        text = record.getMessage()
        assert SENTINEL not in text and SENTINEL2 not in text, text
