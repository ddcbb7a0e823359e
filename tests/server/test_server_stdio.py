"""The real thing: ``python -m nemo_mcp serve`` as a stdio subprocess under the SDK's Client, in
both protocol eras, against the emulator over loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import mcp.types as types
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from nemo_server_helpers import SENTINEL_TOKEN, TOOL_NAMES, Folders, check_mp4, eventually

from nemo_mcp.emulator import EmulatorServer
from support.emulator import FAST, MUSIC_VIDEO, render_submits, run_sse_posts
from support.processes import INITIALIZE, stdio_params
from support.results import ToolClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _client(env: dict[str, str], mode: str, errlog: IO[str]) -> Client:
    return Client(stdio_client(stdio_params(env), errlog=errlog), mode=mode)  # type: ignore[arg-type]


async def test_stdio_full_flow(folders: Folders, mode: str, tmp_path: Path) -> None:
    """Every step of the seed workflow over stdio; a registered NEMO_TOKEN never shows up in a
    result or in the server's DEBUG log on stderr."""
    stderr_path = tmp_path / "server-stderr.log"
    with (
        EmulatorServer(registered_tokens=(SENTINEL_TOKEN,), **FAST) as emu,
        stderr_path.open("w") as errlog,
    ):
        env = folders.env(emu.url, NEMO_TOKEN=SENTINEL_TOKEN, NEMO_MCP_LOG_LEVEL="DEBUG")
        async with _client(env, mode, errlog) as client:
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            mcp = ToolClient(client)
            await mcp.load_schemas()
            tools = (await client.list_tools()).tools
            assert sorted(t.name for t in tools) == sorted(TOOL_NAMES)

            up = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
            sid = up.data["session_id"]
            chat = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
            assert chat.data["status"] == "replied" and chat.data["export_ready"] is True
            assert len(chat.progress) > 0
            timeline = await mcp.read(f"nemo://sessions/{sid}/timeline")
            assert "Ready to export" in timeline
            state = await mcp.ok("nemo_get_state")
            assert state.data["export_ready"] is True
            credits = await mcp.ok("nemo_get_credits")
            assert credits.data["account"] == "registered"

            export = await mcp.ok("nemo_export")
            assert export.data["status"] == "downloaded", export.text
            assert len(export.progress) > 0
            path = Path(export.data["file"])
            assert path.parent == folders.out
            check_mp4(path)
            kinds = [c.type for c in export.result.content]
            assert kinds == [
                "text",
                "resource_link",
                "image",
                "image",
                "resource_link",
                "resource_link",
            ]  # file, poster, storyboard (image, link), status
            render = json.loads(await mcp.read(f"nemo://renders/{export.data['render_id']}"))
            assert render["status"] == "downloaded"

            listed = await mcp.ok("nemo_list_sessions")
            assert listed.data["current_session_id"] == sid
        assert run_sse_posts(emu) == 1 and render_submits(emu) == 1

    assert SENTINEL_TOKEN not in mcp.dump()
    log = stderr_path.read_text()
    assert "DEBUG" in log  # the log level took effect, so there was something to scan
    assert SENTINEL_TOKEN not in log


async def test_stdio_restart_resumes_the_render(
    emu: EmulatorServer, folders: Folders, mode: str, tmp_path: Path
) -> None:
    """Stop the server process while it renders; a new process on the same NEMO_MCP_HOME
    resumes polling at startup and downloads the MP4: one submit, one file."""
    env = folders.env(emu.url)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with _client(env, mode, errlog) as first:
            mcp = ToolClient(first)
            await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
            await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
            emu.set_config(render_pending_seconds=2.0)
            export = await mcp.ok("nemo_export", {"wait_seconds": 0})
            render_id = export.data["render_id"]
            assert export.data["done"] is False
            await eventually(lambda: emu.render(render_id) is not None)
        # the first process is gone; the render is still going on at NemoVideo
        assert emu.render(render_id).status in ("pending", "processing")  # type: ignore[union-attr]
        assert not folders.out.exists() or not list(folders.out.glob("*.mp4"))

        async with _client(env, mode, errlog) as second:
            mcp = ToolClient(second)
            waited = await mcp.ok("nemo_wait", {"job_id": render_id, "wait_seconds": 60})
            assert waited.data["done"] is True, waited.text
            assert waited.data["render"]["status"] == "downloaded"
            check_mp4(Path(waited.data["render"]["file"]))
            links = [c for c in waited.result.content if isinstance(c, types.ResourceLink)]
            assert links and links[0].mime_type == "video/mp4"
    assert render_submits(emu) == 1
    assert len(list(folders.out.glob("*.mp4"))) == 1


def test_lines_that_are_not_messages_leave_the_server_answering(tmp_path: Path) -> None:
    """Read as the SDK's own stdio transport reads: a line that is not JSON, not UTF-8 or empty
    is handed to the server as an error and never stops it; stdout carries JSON-RPC only; the
    end of input ends the server cleanly."""
    import subprocess

    params = stdio_params({"NEMO_MCP_HOME": str(tmp_path / "state")})
    lines = [
        json.dumps(INITIALIZE).encode(),
        b'{"jsonrpc": "2.0", "method": "notifications/initialized"}',
        b"this is not json",
        b"\xff\xfe\x00 not utf-8",
        b"",
        b'{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}',
    ]
    done = subprocess.run(
        [params.command, *params.args],
        input=b"\n".join(lines) + b"\n",
        env=params.env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    answers = [json.loads(line) for line in done.stdout.splitlines()]  # JSON-RPC only
    by_id = {a.get("id"): a for a in answers if "id" in a}
    assert by_id[1]["result"]["serverInfo"]["name"]
    assert {t["name"] for t in by_id[2]["result"]["tools"]} >= set(TOOL_NAMES)
