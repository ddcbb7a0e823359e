"""State that survives a restart with ``data_dir``, and the CLI as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from emu_helpers import Media, serve

from nemo_mcp.contract import headers, paths
from nemo_mcp.emulator import EmulatorServer
from support.emulator import FAST
from support.processes import free_port


def _tiny() -> dict[str, object]:
    return {
        "t": [{"tt": 0, "sg": [{"type": "color", "s": 0, "d": 500}]}],
        "d": 500,
        "m": {"width": 160, "height": 90},
    }


@pytest.mark.anyio
async def test_state_survives_a_restart(tmp_path: Path, media: Media) -> None:
    data = tmp_path / "emu-data"
    async with serve(**FAST, data_dir=data) as api:
        token = await api.login("persistent-client")
        sid = await api.new_session()
        up = (await api.upload(sid, media.song, media.photos[0])).json()["data"]["files"]
        await api.chat(sid, "generate a 3-second background track")
        await api.submit_render(sid, _tiny(), "render_keep")
        assert (await api.wait_render("render_keep"))["status"] == "completed"
        before_state = await api.state(sid)
        before_credits = await api.credits()
        first_url = api.server.url
    saved = json.loads((data / "state.json").read_text())
    assert saved["version"] == 1 and saved["sessions"][0]["session_id"] == sid
    assert not list(data.glob(".state.*.tmp"))  # written atomically, nothing left over

    async with serve(**FAST, data_dir=data) as api:
        api.token = token
        assert await api.credits() == before_credits
        after = await api.state(sid)
        # same state; only the host part of the URLs follows the new server
        assert json.dumps(after).replace(api.server.url, "") == json.dumps(before_state).replace(
            first_url, ""
        )
        song = await api.client.get(up[0]["cdn_url"].replace(first_url, api.server.url))
        assert song.content == media.song.read_bytes()
        body = await api.wait_render("render_keep")
        assert body["status"] == "completed"
        video = await api.client.get(body["output"]["url"])
        assert len(video.content) == body["output"]["size"]
        # limits remembered too: same client id, same render id
        r = await api.client.post(
            paths.ANON_TOKEN, headers={headers.CLIENT_ID: "persistent-client"}
        )
        assert r.status_code == 429
        assert (await api.submit_render(sid, _tiny(), "render_keep")).status_code == 409


@pytest.mark.anyio
async def test_unfinished_render_resumes_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "emu-data"
    async with serve(**{**FAST, "render_pending_seconds": 30.0}, data_dir=data) as api:
        token = await api.login()
        sid = await api.new_session()
        await api.submit_render(sid, _tiny(), "render_later")
    async with serve(**FAST, data_dir=data) as api:
        api.token = token
        assert (await api.wait_render("render_later"))["status"] == "completed"


def test_without_data_dir_files_live_in_a_temporary_folder() -> None:
    server = EmulatorServer(**FAST)
    root = server.state.root
    with server:
        assert root.is_dir()
        assert not (root / "state.json").exists()
    assert not root.exists()
    with pytest.raises(RuntimeError, match="runs once"):
        server.start()


CLI = "from nemo_mcp.emulator.cli import main; raise SystemExit(main())"


@pytest.mark.slow
def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "--port",
            "0",
            "--data",
            str(tmp_path / "d"),
            "--fault",
            "credits:503:times=1",
            "--generation-seconds",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.fullmatch(r"NemoVideo emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert m, line
        url = m.group(1)
        with httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
            r = client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "cli"})
            token = r.json()["data"]["token"]
            r = client.get(paths.CREDITS, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 503  # the --fault flag is active
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == ""  # the URL line was the only stdout output
    assert (tmp_path / "d" / "state.json").exists()


@pytest.mark.slow
def test_cli_reports_a_busy_port() -> None:
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen(1)
        proc = subprocess.run(
            [sys.executable, "-c", CLI, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "cannot listen" in proc.stderr
