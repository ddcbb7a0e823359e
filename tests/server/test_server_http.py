"""``nemo-mcp serve --http``: streamable HTTP (stateless, SSE answers) in a subprocess, driven by
the SDK's Client in both eras; progress arrives over SSE; DNS-rebinding protection answers a
foreign Host with 421 and a foreign Origin with 403."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mcp import Client
from nemo_server_helpers import TOOL_NAMES, Folders, check_mp4
from node_clients import TsClient, assert_readable_error, text_of

from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from support.emulator import FAST, MUSIC_VIDEO, render_submits
from support.processes import clean_env, free_port, post_initialize
from support.results import ToolClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

START_TIMEOUT = 30.0


@dataclass
class HttpServer:
    url: str
    port: int
    emu: EmulatorServer
    folders: Folders
    log: Path


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the HTTP server exited early:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"the HTTP server did not listen within {START_TIMEOUT} s")


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    root = tmp_path_factory.mktemp("http")
    media = root / "media"
    song = synth.make_song(media / "my-song.mp3", 6.0, bpm=120)
    folders = Folders(root=root, home=root / "state", out=root / "out", media=media, song=song)
    port = free_port()
    log = root / "server.log"
    with EmulatorServer(**FAST) as emu, log.open("wb") as out:
        env = clean_env(folders.env(emu.url), NEMO_MCP_HOME=str(folders.home))
        proc = subprocess.Popen(
            [sys.executable, "-m", "nemo_mcp", "serve", "--http", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_listening(proc, port, log)
            yield HttpServer(f"http://127.0.0.1:{port}/mcp", port, emu, folders, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_http_tools_and_progress_over_sse(http_server: HttpServer, mode: str) -> None:
    async with Client(http_server.url, mode=mode) as client:  # type: ignore[arg-type]
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        mcp = ToolClient(client)
        await mcp.load_schemas()
        assert sorted(mcp.schemas) == sorted(TOOL_NAMES)
        new = await mcp.ok("nemo_new_session", {"title": f"http {mode}"})
        sid = new.data["session_id"]
        up = await mcp.ok("nemo_upload", {"items": [str(http_server.folders.song)]})
        assert up.data["session_id"] == sid
        chat = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO, "session_id": sid})
        assert chat.data["status"] == "replied"
        assert len(chat.progress) > 0, "no progress notification arrived over SSE"
        export = await mcp.ok("nemo_export", {"session_id": sid})
        assert export.data["status"] == "downloaded", export.text
        assert len(export.progress) > 0, "no progress notification arrived over SSE"
        check_mp4(Path(export.data["file"]))
        timeline = await mcp.read(f"nemo://sessions/{sid}/timeline")
        assert "Ready to export" in timeline
    assert render_submits(http_server.emu) >= 1


def test_typescript_client_over_http(http_server: HttpServer) -> None:
    """The client most hosts embed (TypeScript SDK 1.x, handshake era: each request one exchange
    in its own POST) over ``serve --http``: results, an error result, a prompt, a bad request."""
    with TsClient("v1", {}, url=http_server.url) as ts:
        assert {t["name"] for t in ts.ok("list_tools")["tools"]} == set(TOOL_NAMES)
        new = ts.call("nemo_new_session", {"title": "from TypeScript over HTTP"})
        sid = new["structuredContent"]["session_id"]
        state = ts.call("nemo_get_state", {"session_id": sid})
        assert state["structuredContent"]["session_id"] == sid and "Next:" in text_of(state)
        missing = ts.call("nemo_get_state", {"session_id": "no-such-session"})
        assert_readable_error(missing, "session_not_found")
        prompt = ts.ok("get_prompt", name="add_title", arguments={"text": "Hello"})
        assert "Hello" in json.dumps(prompt["messages"])
        unknown = ts.request("get_prompt", name="nope")
        assert not unknown.ok and "Unknown prompt: nope" in json.dumps(unknown.error)
        assert "-32602" in json.dumps(unknown.error), unknown.error
    # the server said where it listens, on stderr
    assert f"MCP over streamable HTTP at {http_server.url}" in http_server.log.read_text()


def _post(port: int, headers: dict[str, str]) -> httpx.Response:
    return post_initialize(f"http://127.0.0.1:{port}/mcp", headers)


def test_http_dns_rebinding_protection(http_server: HttpServer) -> None:
    port = http_server.port
    assert _post(port, {}).status_code == 200
    assert _post(port, {"Origin": f"http://127.0.0.1:{port}"}).status_code == 200
    assert _post(port, {"Origin": f"http://localhost:{port}"}).status_code == 200

    assert _post(port, {"Host": "evil.example"}).status_code == 421
    assert _post(port, {"Host": f"evil.example:{port}"}).status_code == 421
    assert _post(port, {"Host": "127.0.0.1:1"}).status_code == 421

    assert _post(port, {"Origin": "http://evil.example"}).status_code == 403
    assert _post(port, {"Origin": f"http://evil.example:{port}"}).status_code == 403
    assert _post(port, {"Origin": "null"}).status_code == 403


def test_http_refuses_a_remote_host_without_allow_remote(tmp_path: Path) -> None:
    env = clean_env(NEMO_MCP_HOME=str(tmp_path / "state"))
    proc = subprocess.run(
        [sys.executable, "-m", "nemo_mcp", "serve", "--http", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "0.0.0.0" in proc.stderr + proc.stdout
