"""The CLI as a real process (``python -m nemo_mcp``) against the emulator."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nemo_cli_helpers import MUSIC_VIDEO, REGISTERED_TOKEN, Env, process_env, run_subprocess


@pytest.mark.slow
def test_seed_workflow_as_subprocesses(env: Env) -> None:
    up = run_subprocess(env, "upload", str(env.song()), "--json")
    assert up.code == 0, up.err
    assert up.json["uploaded"][0]["kind"] == "audio"
    assert "uploading" in up.err and "\r" not in up.err  # plain progress lines off a terminal

    chat = run_subprocess(env, "chat", MUSIC_VIDEO, "--json")
    assert chat.code == 0, chat.err
    assert chat.json["export_ready"] is True

    export = run_subprocess(env, "export", "--json")
    assert export.code == 0, export.err
    file = Path(export.json["file"])
    assert file.is_file() and file.parent == env.out
    assert re.search(r"^\[\d\d:\d\d:\d\d\] ", export.err, re.MULTILINE)

    human = run_subprocess(env, "ask", "send me the video", "--force")
    assert human.code == 0, human.err
    assert Path(human.out.strip().splitlines()[-1]).is_file()


def test_errors_and_exit_codes_as_subprocesses(env: Env) -> None:
    bad = run_subprocess(env, "upload", str(env.media / "notes.mp3"))
    assert bad.code == 2 and bad.out == ""
    assert "error (unsafe_path)" in bad.err and "Only real media files" in bad.err

    env.emu.set_config(anon_credits=0, credits_error="rest")
    broke = run_subprocess(env, "chat", "generate a 30-second background track", "--json")
    assert broke.code == 1
    error = broke.json["error"]
    assert error["kind"] == "no_credits" and "register?bind=anon_" in error["hint"]

    usage = run_subprocess(env, "export", "--bogus")
    assert usage.code == 2 and "unrecognized arguments" in usage.err

    auth = run_subprocess(env, "credits", extra_env={"NEMO_TOKEN": "nmv_usr_revoked_token_42"})
    assert auth.code == 4 and "error (auth)" in auth.err
    assert "nmv_usr_revoked_token_42" not in auth.out + auth.err


def test_login_from_stdin_never_echoes(env: Env) -> None:
    r = run_subprocess(env, "login", "--stdin", stdin=REGISTERED_TOKEN + "\n")
    assert r.code == 0, r.err
    assert REGISTERED_TOKEN not in r.out + r.err
    who = run_subprocess(env, "whoami", "--json")
    assert who.json["source"] == "login"
    assert REGISTERED_TOKEN not in who.out + who.err


def test_commands_that_do_not_serve_mcp_do_not_import_it(env: Env) -> None:
    for argv in (["whoami"], ["credits"], ["install", "print"], ["skill", "build", "--help"]):
        r = run_subprocess(env, *argv, python_flags=("-X", "importtime"))
        assert r.code == 0, r.err[-2000:]
        imported = re.findall(r"\|\s+(mcp(?:\.[\w.]+)?)\s*$", r.err, re.MULTILINE)
        assert imported == [], (argv, imported[:5])
    # the check can fail: the MCP server module does import the SDK
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import nemo_mcp.mcp.server"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert re.findall(r"\|\s+(mcp(?:\.[\w.]+)?)\s*$", proc.stderr, re.MULTILINE)


def test_version_and_public_host_refusal(env: Env) -> None:
    v = run_subprocess(env, "--version")
    assert v.code == 0 and v.out.startswith("nemo-mcp ")
    r = run_subprocess(env, "serve", "--http", "--host", "0.0.0.0")
    assert r.code == 2 and "--allow-remote" in r.err


def test_emulator_command_prints_its_url(env: Env) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nemo_mcp", "emulator", "--port", "0"],
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line
        ok = run_subprocess(env, "credits", "--json", extra_env={"NEMO_API_URL": match.group(1)})
        assert ok.code == 0, ok.err
        assert ok.json["available"] == 100
        assert not env.emu.requests()  # it went to the other emulator
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="SIGINT delivery differs on Windows")
def test_ctrl_c_is_exit_130(env: Env) -> None:
    assert run_subprocess(env, "upload", str(env.song())).code == 0
    env.emu.set_config(generation_seconds=20.0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nemo_mcp", "chat", MUSIC_VIDEO],
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a terminal starts it: a suite run in the background (`cmd &` without job control)
        # inherits SIGINT ignored, and an ignored Ctrl-C is not the CLI's to undo
        preexec_fn=_sigint_default,
    )
    try:
        deadline = time.monotonic() + 20
        while not env.emu.requests(endpoint="run_sse") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err


@pytest.mark.anyio
async def test_serve_over_stdio_with_a_skill_dir(env: Env, tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    from nemo_mcp.manifest import load_manifest
    from nemo_mcp.setup import skills

    manifest = load_manifest("video-making-free-ai")
    folder = skills.build_skill(manifest, tmp_path / "skills")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "nemo_mcp", "--skill-dir", str(folder), "serve"],
        env=process_env(env),
    )
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "nemo_get_credits" in tools
        result = await client.call_tool("nemo_get_credits", {})
        assert result.is_error is False
    seen = {
        (r.header("X-Skill-Source"), r.header("X-Skill-Version"))
        for r in env.emu.requests(endpoint="credits")
    }
    assert seen == {(manifest.name, manifest.version)}
