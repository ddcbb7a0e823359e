"""Every CLI command in-process (``cli.main``) against the emulator, from a clean home."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from nemo_cli_helpers import MUSIC_VIDEO, REGISTERED_TOKEN, Env, RunFn

from nemo_mcp.manifest import load_manifest
from nemo_mcp.media import containers
from nemo_mcp.setup import skills
from nemo_mcp.store.sqlite import SQLiteStore


def _stored_token(env: Env) -> str | None:
    with SQLiteStore(env.home / "nemo-state") as store:
        cred = store.load_credential(env.emu.url)
    return cred.token if cred else None


def _make_video(run: RunFn, env: Env) -> None:
    assert run("upload", str(env.song()), "--json").code == 0
    assert run("chat", MUSIC_VIDEO, "--json").code == 0


def test_seed_workflow_upload_chat_state_export(run: RunFn, env: Env) -> None:
    up = run("upload", str(env.song()), "--json")
    assert up.code == 0, up.err
    data = up.json
    assert [(i["name"], i["kind"]) for i in data["uploaded"]] == [("song.mp3", "audio")]
    session = data["session_id"]

    chat = run("chat", MUSIC_VIDEO, "--json")
    assert chat.code == 0, chat.err
    turn = chat.json
    assert turn["done"] is True and turn["session_id"] == session
    assert turn["status"] in ("replied", "silent_changed")
    assert turn["export_ready"] is True and turn["changes"]

    state = run("state", "--json")
    assert state.code == 0
    assert state.json["export_ready"] is True
    assert {t["kind"] for t in state.json["tracks"]} >= {"video", "audio"}

    credits = run("credits", "--json")
    assert credits.code == 0
    assert credits.json["account"] == "anonymous"
    assert credits.json["available"] == 0  # 100 free credits, one generation
    assert credits.json["registration_url"].startswith("https://nemovideo.com/register?bind=anon_")

    export = run("export", "--filename", "my video")
    assert export.code == 0, export.err
    lines = export.out.strip().splitlines()
    path = Path(lines[-1])  # the MP4 path is the last line
    assert path == env.out / "my video.mp4" and path.is_file()
    assert containers.sniff(path) == "isobmff"
    assert "submitting the render" in export.err  # progress went to stderr

    again = run("export", "--filename", "my video", "--json", "--force")
    assert again.code == 0
    assert again.json["file"] == str(env.out / "my video (2).mp4")  # never overwritten
    assert again.json["status"] == "downloaded" and again.json["width"]

    token = _stored_token(env)
    assert token
    for r in (up, chat, state, credits, export, again):
        assert token not in r.out and token not in r.err


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("credits", "credits"),
        ("余额", "credits"),
        ("show tracks", "state"),
        ("状态", "state"),
    ],
)
def test_ask_routes_reads(run: RunFn, env: Env, text: str, intent: str) -> None:
    if intent == "state":
        # reading never starts a session: with none yet it says how to start one
        empty = run("ask", text, "--json")
        assert empty.code != 0 and "no session" in empty.json["error"]["message"], empty.out
        assert run("sessions", "new", "--json").code == 0
    r = run("ask", text, "--json")
    assert r.code == 0, r.err
    assert r.json["intent"] == intent
    key = "available" if intent == "credits" else "tracks"
    assert key in r.json


def test_ask_routes_upload_chat_and_export(
    run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(env.media)
    up = run("ask", "upload song.mp3 please", "--json")
    assert up.code == 0, up.err
    assert up.json["intent"] == "upload"
    assert up.json["uploaded"][0]["name"] == "song.mp3"

    chat = run("ask", MUSIC_VIDEO, "--json")
    assert chat.code == 0 and chat.json["intent"] == "chat"
    assert chat.json["export_ready"] is True

    export = run("ask", "导出")
    assert export.code == 0, export.err
    assert Path(export.out.strip().splitlines()[-1]).is_file()
    assert "-> export" in export.err

    nothing = run("ask", "upload it", "--json")
    assert nothing.code == 2 and "names no file" in nothing.json["error"]["message"]


def test_upload_of_a_non_media_file_is_exit_2_with_the_hint(run: RunFn, env: Env) -> None:
    r = run("upload", str(env.media / "notes.mp3"), "--json")
    assert r.code == 2
    err = r.json["error"]
    assert err["kind"] == "unsafe_path"
    assert "does not contain MP3 media" in err["message"]
    assert "Only real media files can be uploaded" in err["hint"]
    human = run("upload", str(env.media / "notes.mp3"))
    assert human.code == 2 and human.out == ""
    assert "Only real media files can be uploaded" in human.err
    assert not env.emu.requests(endpoint="upload")  # refused before anything was sent


def test_upload_outside_the_allowed_folders_is_refused(
    run: RunFn, env: Env, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere" / "song.mp3"
    outside.parent.mkdir()
    outside.write_bytes(env.song().read_bytes())
    r = run("upload", str(outside), "--json")
    assert r.code == 2 and r.json["error"]["kind"] == "unsafe_path"
    assert "NEMO_MCP_ALLOWED_DIRS" in r.json["error"]["hint"]


def test_relative_upload_paths_are_relative_to_the_working_folder(
    run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(env.media)
    r = run("upload", "photo.jpg", "song.mp3", "--json")
    assert r.code == 0, r.err
    assert [i["kind"] for i in r.json["uploaded"]] == ["image", "audio"]


def test_out_of_credits_is_exit_1_with_the_registration_link(run: RunFn, env: Env) -> None:
    env.emu.set_config(anon_credits=0, credits_error="rest")
    r = run("chat", "generate a 30-second royalty-free background track", "--json")
    assert r.code == 1
    err = r.json["error"]
    assert err["kind"] == "no_credits"
    assert err["details"]["registration_url"].startswith("https://nemovideo.com/register?bind=")
    assert err["details"]["registration_url"] in err["hint"]
    human = run("chat", "generate a 30-second royalty-free background track")
    assert human.code == 1 and "register?bind=anon_" in human.err


def test_out_of_credits_reported_in_the_stream_is_exit_1_too(run: RunFn, env: Env) -> None:
    env.emu.set_config(anon_credits=0, credits_error="event")
    r = run("chat", "generate a 30-second royalty-free background track", "--json")
    assert r.code == 1
    data = r.json
    if "error" in data:  # the studio turns it into an error
        assert data["error"]["kind"] == "no_credits"
        assert "register?bind=anon_" in data["error"]["hint"]
    else:  # or reports the turn with its errors
        assert data["errors"] and not data["changes"]
        assert "register?bind=anon_" in data["summary"]


def test_a_rejected_token_is_exit_4(run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEMO_TOKEN", "nmv_usr_not_a_real_token_123")
    r = run("credits", "--json")
    assert r.code == 4
    assert r.json["error"]["kind"] == "auth" and "NEMO_TOKEN" in r.json["error"]["hint"]
    assert "nmv_usr_not_a_real_token_123" not in r.out + r.err


def test_export_with_an_empty_timeline_is_exit_2(run: RunFn, env: Env) -> None:
    r = run("export", "--json")
    assert r.code == 2 and "Nothing to export yet" in r.json["error"]["message"]


def test_export_handle_then_wait(run: RunFn, env: Env) -> None:
    _make_video(run, env)
    env.emu.set_config(render_slowdown=0.05)
    r = run("export", "--wait", "0", "--json")
    assert r.code == 3, r.err
    handle = r.json
    assert handle["done"] is False
    render_id = handle["render_id"]
    assert handle["next_steps"][0]["command"] == f"nemo-mcp wait {render_id}"
    human = run("wait", render_id)  # a new process picks the render up and downloads it
    assert human.code == 0, human.err
    assert Path(human.out.strip().splitlines()[-1]).is_file()
    done = run("wait", render_id, "--json")
    assert done.code == 0 and done.json["status"] == "downloaded"


def test_cancel_a_running_render(run: RunFn, env: Env) -> None:
    _make_video(run, env)
    env.emu.set_config(render_slowdown=2.0)
    r = run("export", "--wait", "0", "--json")
    assert r.code == 3
    render_id = r.json["render_id"]
    c = run("cancel", render_id, "--json")
    assert c.code == 0, c.err
    assert c.json["status"] == "cancelled"
    w = run("wait", render_id, "--json")
    assert w.code == 1 and w.json["status"] == "cancelled"
    assert env.emu.requests(endpoint="render_cancel")


def test_chat_handle_is_exit_3(run: RunFn, env: Env) -> None:
    assert run("upload", str(env.song())).code == 0
    env.emu.set_config(generation_seconds=3.0)
    r = run("chat", MUSIC_VIDEO, "--wait", "0", "--json")
    assert r.code == 3, r.err
    assert r.json["done"] is False and r.json["turn_id"].startswith("turn_")
    assert r.json["next_steps"][0]["command"] == "nemo-mcp state"
    assert "do not send the message again" in r.json["summary"]
    assert env.emu.requests(endpoint="run_sse")  # the message went out before the exit


def test_wait_for_an_unknown_job(run: RunFn, env: Env) -> None:
    r = run("wait", "render_123_abc", "--json")
    assert r.code == 2 and "No render" in r.json["error"]["message"]


def test_sessions_new_list_use(run: RunFn, env: Env) -> None:
    first = run("sessions", "new", "--title", "Trip", "--language", "en", "--json")
    assert first.code == 0, first.err
    a = first.json["session_id"]
    second = run("sessions", "new", "--json").json["session_id"]
    listed = run("sessions", "--json").json
    assert listed["current_session_id"] == second
    assert {s["session_id"] for s in listed["sessions"]} == {a, second}
    assert run("sessions", "use", a, "--json").json["current"] is True
    assert run("sessions", "list", "--json").json["current_session_id"] == a
    text = run("sessions").out
    assert f"* {a}" in text and "Trip" in text


def test_session_option_and_a_deleted_session(run: RunFn, env: Env) -> None:
    a = run("sessions", "new", "--json").json["session_id"]
    b = run("sessions", "new", "--json").json["session_id"]
    r = run("state", "--session", a, "--json")
    assert r.code == 0 and r.json["session_id"] == a
    env.emu.delete_session(b)
    gone = run("state", "--json")
    assert gone.code == 1
    assert gone.json["error"]["kind"] == "session_not_found"


def test_login_verify_whoami_logout(run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(f"  {REGISTERED_TOKEN}  \n"))
    r = run("login", "--stdin", "--json")
    assert r.code == 0, r.err
    assert r.json["verified"] is True and r.json["stored"] is True
    assert REGISTERED_TOKEN not in r.out + r.err
    assert _stored_token(env) == REGISTERED_TOKEN

    who = run("whoami", "--json")
    assert who.code == 0
    assert who.json["source"] == "login" and who.json["api_url"] == env.emu.url
    assert REGISTERED_TOKEN not in who.out
    credits = run("credits", "--json")
    assert credits.json["account"] == "registered" and credits.json["available"] > 100

    out = run("logout", "--json")
    assert out.code == 0 and out.json["removed"] is True
    assert _stored_token(env) is None
    assert run("logout", "--json").json["removed"] is False


def test_login_with_a_rejected_token_stores_nothing(
    run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("nmv_usr_wrong_token_999\n"))
    r = run("login", "--stdin", "--json")
    assert r.code == 4
    assert "not stored" in r.json["error"]["message"]
    assert "nmv_usr_wrong_token_999" not in r.out + r.err
    assert _stored_token(env) is None


def test_login_prompts_hidden_and_refuses_without_a_terminal(
    run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    class FakeTty(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return REGISTERED_TOKEN

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", FakeTty(""))
    r = run("login", "--no-verify", "--json")
    assert r.code == 0 and r.json["verified"] is False
    assert prompts and "hidden" in prompts[0]
    assert not env.emu.requests()  # --no-verify sends nothing

    monkeypatch.setattr("sys.stdin", io.StringIO("whatever"))  # not a terminal
    r = run("login", "--json")
    assert r.code == 2 and "--stdin" in r.json["error"]["hint"]
    monkeypatch.setattr("sys.stdin", io.StringIO("two words\n"))
    r = run("login", "--stdin", "--no-verify", "--json")
    assert r.code == 2 and "two words" not in r.out + r.err
    assert r.json["error"]["kind"] == "invalid_input"


def test_whoami_before_and_after_first_use(run: RunFn, env: Env) -> None:
    before = run("whoami", "--json").json
    assert before["source"] == "none" and before["user_id"] is None
    assert not env.emu.requests()  # whoami never calls the API
    assert run("credits").code == 0
    after = run("whoami", "--json").json
    assert after["source"] == "anonymous"
    assert after["user_id"].startswith("anon_")
    assert after["client_id"] and after["expires_in_s"] > 6 * 86400
    assert after["skill"] == "nemo-mcp" and after["platform"] == "unknown"
    text = run("whoami").out
    assert "token source : free anonymous token" in text


def test_doctor_against_the_emulator(run: RunFn, env: Env) -> None:
    assert run("install", "cursor").code == 0
    r = run("doctor", "--json")
    assert r.code == 0, r.out
    checks = {c["name"]: c for c in r.json["checks"]}
    assert checks["api"]["status"] == "OK"
    assert (
        checks["account"]["status"] == "OK" and "credits available" in checks["account"]["detail"]
    )
    assert checks["token"]["status"] == "OK"
    cursor = next(c for n, c in checks.items() if n.startswith("Cursor"))
    assert cursor["status"] == "OK" and "configured" in cursor["detail"]
    desktop = next(c for n, c in checks.items() if n.startswith("Claude Desktop"))
    assert desktop["status"] == "SKIP" and "nemo-mcp install claude-desktop" in desktop["fix"]
    token = _stored_token(env)
    assert token and token not in r.out


def test_doctor_reports_failures_with_fixes(
    run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMO_API_URL", "http://127.0.0.1:9")
    cursor = env.home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    cursor.write_text(json.dumps({"mcpServers": {"nemovideo": {"command": "/gone/nemo-mcp"}}}))
    r = run("doctor")
    assert r.code == 1
    assert "[FAIL] api: http://127.0.0.1:9 did not answer" in r.out
    assert "fix: Check the network connection" in r.out
    assert "does not exist" in r.out and "nemo-mcp install cursor --force" in r.out


def _attribution(env: Env) -> set[tuple[str | None, str | None]]:
    return {
        (r.header("X-Skill-Source"), r.header("X-Skill-Version"))
        for r in env.emu.requests()
        if not r.path.startswith("/_emulator")
    }


def test_skill_dir_feeds_the_attribution_headers(run: RunFn, env: Env, tmp_path: Path) -> None:
    manifest = load_manifest("ai-music-video-clip-generator")
    built = tmp_path / "skills"
    assert run("skill", "build", manifest.name, "--out", str(built)).code == 0
    folder = built / manifest.name
    # pretend the published copy carries a newer version in its frontmatter
    skill_md = folder / "SKILL.md"
    skill_md.write_text(skill_md.read_text().replace('  version: "1.0.0"', '  version: "1.2.3"'))

    r = run("--skill-dir", str(folder), "credits", "--json")
    assert r.code == 0, r.err
    assert _attribution(env) == {("ai-music-video-clip-generator", "1.2.3")}
    env.emu.clear_requests()

    # the option also works after the command name, and the manifest's limits apply
    up = run("upload", str(env.song()), "--skill-dir", str(folder), "--json")
    assert up.code == 0
    assert _attribution(env) == {("ai-music-video-clip-generator", "1.2.3")}
    env.emu.clear_requests()

    assert run("--skill", "music-generator-free-easy", "credits").code == 0
    assert _attribution(env) == {("music-generator-free-easy", "1.0.0")}
    env.emu.clear_requests()
    assert run("credits").code == 0
    assert _attribution(env) == {("nemo-mcp", load_manifest("nemo-mcp").version)}


def test_root_skill_md_as_skill_dir(run: RunFn, env: Env, tmp_path: Path) -> None:
    folder = skills.build_skill(load_manifest("nemo-mcp"), tmp_path)
    assert run("--skill-dir", str(folder), "credits").code == 0
    platforms = {r.header("X-Skill-Platform") for r in env.emu.requests(endpoint="credits")}
    assert platforms == {"unknown"}
    clawhub = tmp_path / "clawhub-install" / "nemo-mcp"
    (clawhub / ".clawhub").mkdir(parents=True)
    (clawhub / ".clawhub" / "origin.json").write_text("{}")
    (clawhub / "SKILL.md").write_text((folder / "SKILL.md").read_text())
    env.emu.clear_requests()
    assert run("--skill-dir", str(clawhub), "credits").code == 0
    assert {r.header("X-Skill-Platform") for r in env.emu.requests(endpoint="credits")} == {
        "clawhub"
    }


def test_unknown_skill_is_a_usage_error(run: RunFn, env: Env) -> None:
    r = run("--skill", "nope", "credits", "--json")
    assert r.code == 2
    assert "NEMO_SKILL" in r.json["error"]["hint"]


def test_json_output_is_one_object_and_logs_stay_on_stderr(run: RunFn, env: Env) -> None:
    r = run("-v", "upload", str(env.song()), "--json")
    assert r.code == 0
    data: Any = json.loads(r.out)  # exactly one JSON document on stdout
    assert isinstance(data, dict) and "uploaded" in data
    assert "uploading" in r.err  # progress (and any log line) goes to stderr
    token = _stored_token(env)
    assert token and token not in r.err


def test_quiet_suppresses_progress(run: RunFn, env: Env) -> None:
    r = run("-q", "upload", str(env.song()))
    assert r.code == 0 and r.err == ""


def test_interrupt_is_exit_130(run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from nemo_mcp.studio.facade import Studio

    async def boom(self: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Studio, "credits", boom)
    r = run("credits", "--json")
    assert r.code == 130 and r.json["error"]["kind"] == "interrupted"


def test_unexpected_errors_are_exit_1_without_a_traceback(
    run: RunFn, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nemo_mcp.studio.facade import Studio

    async def boom(self: Any, **kwargs: Any) -> Any:
        raise RuntimeError("kaputt")

    monkeypatch.setattr(Studio, "credits", boom)
    r = run("credits")
    assert r.code == 1
    assert "unexpected error (RuntimeError: kaputt)" in r.err
    assert "Traceback" not in r.err
    started = time.monotonic()
    assert run("credits", "--json").json["error"]["kind"] == "internal"
    assert time.monotonic() - started < 10
