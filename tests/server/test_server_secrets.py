"""No token in any tool result, resource, progress note or log record of a full flow, errors
and token renewals included."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from nemo_server_helpers import SENTINEL_TOKEN, Folders

from nemo_mcp.config import Settings
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.mcp.server import build_server
from nemo_mcp.store.sqlite import SQLiteStore
from support.emulator import FAST, MUSIC_VIDEO, TITLE_EDIT, fast_studio
from support.results import ToolClient

pytestmark = pytest.mark.anyio


def _record_texts(records: Iterable[logging.LogRecord]) -> list[str]:
    out = []
    for record in records:
        if record.name.startswith(("nemo_mcp.emulator", "uvicorn")):
            continue  # the emulator stands in for the remote service; it is not the product
        out.append(record.getMessage())
        if record.exc_text:
            out.append(record.exc_text)
        if record.exc_info and record.exc_info[1] is not None:
            out.append(repr(record.exc_info[1]))
    return out


async def _full_flow(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders, *, auth_fault: bool = False
) -> None:
    up = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    sid = up.data["session_id"]
    await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    await mcp.ok("nemo_get_state")
    await mcp.read(f"nemo://sessions/{sid}/timeline")
    await mcp.read(f"nemo://sessions/{sid}/draft")
    await mcp.ok("nemo_get_credits")
    export = await mcp.ok("nemo_export")
    await mcp.read(f"nemo://renders/{export.data['render_id']}")
    await mcp.ok("nemo_wait", {"job_id": export.data["render_id"]})
    emu.set_config(silent_edits="always")
    await mcp.ok("nemo_chat", {"message": TITLE_EDIT})
    second = await mcp.ok("nemo_export", {"wait_seconds": 0})
    await mcp.ok("nemo_cancel_render", {"render_id": second.data["render_id"]})
    await mcp.ok("nemo_list_sessions")
    emu.set_faults("credits:500")
    await mcp.fail("nemo_get_credits")
    if auth_fault:  # NEMO_TOKEN rejected once: reported, never swapped for an anonymous one
        emu.set_faults("state:1001")
        await mcp.fail("nemo_get_state")
    emu.clear_faults()
    await mcp.ok("nemo_new_session")


def _assert_clean(secret: str, mcp: ToolClient, caplog: pytest.LogCaptureFixture) -> None:
    assert len(secret) > 20
    dump = mcp.dump()
    assert secret not in dump
    assert "Bearer " not in dump
    texts = _record_texts(caplog.records)
    assert texts, "nothing was logged, so nothing was checked"
    for text in texts:
        assert secret not in text, text


async def test_anonymous_token_never_leaks(
    server: MCPServer,
    emu: EmulatorServer,
    folders: Folders,
    settings: Settings,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        mcp = ToolClient(client)
        await mcp.ok("nemo_get_credits")
        with SQLiteStore(settings.state_db) as store:
            first = store.load_credential(settings.api_url)
        assert first is not None and first.token
        # the first token expires mid-flow: a second one is fetched, and must not leak either
        emu.expire_token(token=first.token)
        await _full_flow(mcp, emu, folders)
        with SQLiteStore(settings.state_db) as store:
            second = store.load_credential(settings.api_url)
        assert second is not None and second.token and second.token != first.token
    _assert_clean(first.token, mcp, caplog)
    _assert_clean(second.token, mcp, caplog)


async def test_nemo_token_never_leaks(
    folders: Folders, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with EmulatorServer(registered_tokens=(SENTINEL_TOKEN,), **FAST) as emu:
        settings = Settings.from_env(folders.env(emu.url, NEMO_TOKEN=SENTINEL_TOKEN))
        server = build_server(settings, studio_factory=fast_studio)
        async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
            mcp = ToolClient(client)
            await _full_flow(mcp, emu, folders, auth_fault=True)
            # a rejected NEMO_TOKEN is reported without being shown
            emu.expire_token(token=SENTINEL_TOKEN)
            await mcp.fail("nemo_get_credits")
        assert all(
            r.header("authorization") == f"Bearer {SENTINEL_TOKEN}"
            for r in emu.requests()
            if r.path.startswith("/api/") and r.endpoint not in ("cdn",)
        )
    _assert_clean(SENTINEL_TOKEN, mcp, caplog)
