"""Shared fixtures. No test touches the real NemoVideo host or the user's real home folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


_NEMO_VARS = (
    "NEMO_API_URL",
    "NEMO_WEB_URL",
    "NEMO_TOKEN",
    "NEMO_CLIENT_ID",
    "SKILL_SOURCE",
    "NEMO_MCP_HOME",
    "NEMO_SKILL",
    "NEMO_SKILL_DIR",
    "NEMO_MCP_OUTPUT_DIR",
    "NEMO_MCP_ALLOWED_DIRS",
    "NEMO_MCP_WAIT_SECONDS",
    "CURSOR_TRACE_ID",
    "CURSOR_SESSION_ID",
    "CLAUDECODE",
    "CLAUDE_CODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "OPENCLAW_STATE_DIR",
)


@pytest.fixture(autouse=True)
def test_names_do_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake hosts' names (``*.test``, RFC 6761) fail to resolve at once, as they do on any
    resolver, without the occasional 5 s the machine's resolver takes to say so."""
    from nemo_mcp.api import netguard

    real = netguard.resolve

    async def resolve(host: str, port: int) -> list[str]:
        if host.rstrip(".").endswith(".test"):
            return []
        return await real(host, port)

    monkeypatch.setattr(netguard, "resolve", resolve)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test gets a fresh fake home and state folder; the real ones are never touched.

    NEMO_API_URL points at a closed local port so an accidental request can never reach the
    real service.
    """
    home = tmp_path_factory.mktemp("home")
    saved = {
        k: os.environ.get(k) for k in (*_NEMO_VARS, "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")
    }
    for key in _NEMO_VARS:
        os.environ.pop(key, None)
    os.environ["HOME"] = str(home)
    os.environ["XDG_DATA_HOME"] = str(home / ".local" / "share")
    os.environ["XDG_CONFIG_HOME"] = str(home / ".config")
    os.environ["NEMO_MCP_HOME"] = str(home / "nemo-state")
    os.environ["NEMO_API_URL"] = "http://127.0.0.1:9"
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# Tests that reach the machine's PostgreSQL server run one at a time, in one xdist worker:
# some of them restart the server, which would cut every other test's connections.
_SERVER_BOUND = ("hosted/", "test_store.py")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = item.nodeid.replace("\\", "/")
        if any(part in where for part in _SERVER_BOUND):
            item.add_marker(pytest.mark.xdist_group("postgres"))
