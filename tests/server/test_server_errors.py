"""Every error the contract names becomes an actionable error result: ``isError``, a text naming
the kind and the next step, structured ``{"error": {...}}`` with the hint; never an exception and
never a success. Transient failures are retried where that is safe, and a chat message is never
sent twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mcp import Client
from nemo_server_helpers import SENTINEL_TOKEN, Folders

from nemo_mcp.config import Settings
from nemo_mcp.contract import codes
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.mcp.server import build_server
from nemo_mcp.store.sqlite import SQLiteStore
from support.emulator import (
    FAST,
    MUSIC_VIDEO,
    fast_studio,
    render_submits,
    requests_to,
    run_sse_posts,
)
from support.results import ToolClient, assert_actionable

pytestmark = pytest.mark.anyio


async def _anon_user(settings: Settings) -> str:
    with SQLiteStore(settings.state_db) as store:
        cred = store.load_credential(settings.api_url)
        assert cred is not None and cred.user_id
        return cred.user_id


async def _ready_timeline(mcp: ToolClient, folders: Folders) -> str:
    up = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    return str(up.data["session_id"])


# --- 1001 --------------------------------------------------------------------------------------
async def test_1001_with_nemo_token_says_to_replace_it(folders: Folders, mode: str) -> None:
    with EmulatorServer(registered_tokens=(SENTINEL_TOKEN,), **FAST) as emu:
        settings = Settings.from_env(folders.env(emu.url, NEMO_TOKEN=SENTINEL_TOKEN))
        server = build_server(settings, studio_factory=fast_studio)
        async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
            mcp = ToolClient(client)
            ok = await mcp.ok("nemo_get_credits")
            assert ok.data["account"] == "registered" and "registration_url" not in ok.data
            emu.expire_token(token=SENTINEL_TOKEN)
            call = await mcp.fail("nemo_get_credits")
            assert_actionable(call, "auth", words=("NEMO_TOKEN", "Replace"))
            assert requests_to(emu, "token") == 0  # never swapped for an anonymous token
            assert SENTINEL_TOKEN not in mcp.dump()


async def test_1001_anonymous_token_is_renewed_transparently(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders, settings: Settings
) -> None:
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    user = await _anon_user(settings)
    assert emu.expire_token(user_id=user) == 1
    seen = len(emu.requests(endpoint="credits"))  # the upload read the balance for its note
    credits = await mcp.ok("nemo_get_credits")
    assert credits.data["account"] == "anonymous"
    assert requests_to(emu, "token") == 2
    statuses = [r.status for r in emu.requests(endpoint="credits")][seen:]
    assert statuses == [401, 200]
    # the same anonymous user, so the session and its media are still there
    state = await mcp.ok("nemo_get_state")
    assert len(state.data["uploads"]) == 1


# --- 1002 --------------------------------------------------------------------------------------
async def test_1002_session_gone_starts_a_new_one(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    sid = await _ready_timeline(mcp, folders)
    assert emu.delete_session(sid)
    sessions_before = len(emu.requests(endpoint="session"))
    # reading (a read-only tool) says so, and creates or switches nothing
    call = await mcp.fail("nemo_get_state")
    assert_actionable(call, "session_not_found", words=("timeline is gone", "new session"))
    assert call.error["details"]["session_id"] == sid
    assert len(emu.requests(endpoint="session")) == sessions_before
    listed = await mcp.ok("nemo_list_sessions")
    assert listed.data.get("current_session_id") is None
    assert {s["session_id"]: s["gone"] for s in listed.data["sessions"]} == {sid: True}

    # the next call that works on a session starts a new one
    up = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    new_sid = up.data["session_id"]
    assert new_sid != sid
    state = await mcp.ok("nemo_get_state")
    assert state.data["session_id"] == new_sid and state.data["export_ready"] is False
    sessions = await mcp.ok("nemo_list_sessions")
    gone = {s["session_id"]: s["gone"] for s in sessions.data["sessions"]}
    assert gone == {sid: True, new_sid: False}

    # naming the gone session explicitly is an error too, not a silent switch
    again = await mcp.fail("nemo_get_state", {"session_id": sid})
    assert_actionable(again, "session_not_found")


async def test_1002_during_chat_and_upload(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    up = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    sid = up.data["session_id"]
    emu.delete_session(sid)
    call = await mcp.fail("nemo_chat", {"message": MUSIC_VIDEO})
    assert_actionable(call, "session_not_found", words=("Upload the media again",))
    assert run_sse_posts(emu) == 0  # the message was not sent into the void
    new_sid = call.error["details"]["new_session_id"]

    # an upload into a session that vanished goes into a new one and says so
    emu.delete_session(new_sid)
    moved = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    assert moved.data["session_id"] not in (sid, new_sid)
    assert moved.data["notices"] and "timeline is gone" in moved.data["notices"][0]
    chat = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    assert chat.data["status"] == "replied"


# --- 2001 --------------------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["event", "error_frame", "rest"])
async def test_2001_out_of_credits_gives_the_registration_link(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders, settings: Settings, style: str
) -> None:
    """However the backend says it (a stream event, an error frame, or the POST's answer)."""
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    user = await _anon_user(settings)
    emu.set_config(credits_error=style)
    emu.set_credits(0, user_id=user)
    call = await mcp.fail("nemo_chat", {"message": MUSIC_VIDEO})
    link = f"https://nemovideo.com/register?bind={user}"
    assert_actionable(call, "no_credits", words=(link, "Exporting existing timelines stays free"))
    assert call.error["code"] == codes.NO_CREDITS
    assert call.error["details"]["registration_url"] == link
    assert run_sse_posts(emu) == 1
    credits = await mcp.ok("nemo_get_credits")
    assert credits.data["available"] == 0 and credits.data["registration_url"] == link
    assert link in credits.text
    # the state's next steps weigh the balance last read: no chat it cannot pay for
    state = await mcp.ok("nemo_get_state")
    assert "Credits: 0 left: not enough for making a video or track" in state.text
    next_line = state.text.splitlines()[-1]
    assert link in next_line and "nemo_chat(" not in next_line, next_line
    assert "credits" not in state.data  # a guide for the next step, not the session's state

    # nothing ran, so the same message may be sent again once there are credits
    emu.set_credits(1000, user_id=user)
    topped_up = await mcp.ok("nemo_get_state")  # a short balance is read again before it steers
    assert "not enough" not in topped_up.text and "nemo_chat(" in topped_up.text.splitlines()[-1]
    chat = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    assert chat.data["status"] == "replied" and chat.data["changes"]
    assert run_sse_posts(emu) == 2


# --- 4001 / 4002 -------------------------------------------------------------------------------
async def test_4001_unsupported_file_our_precheck(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    doc = folders.media / "notes.txt"
    doc.write_text("not media")
    call = await mcp.fail("nemo_upload", {"items": [str(doc)]})
    assert_actionable(call, "unsupported_file", words=("mp4",))
    bad_url = await mcp.fail("nemo_upload", {"items": ["https://example.com/clip.exe"]})
    assert_actionable(bad_url, "unsupported_file")
    assert requests_to(emu, "upload") == 0


async def test_4001_unsupported_file_from_the_server(mcp: ToolClient, emu: EmulatorServer) -> None:
    # a URL without an extension passes our check; NemoVideo finds it is HTML and answers 4001
    call = await mcp.fail("nemo_upload", {"items": [emu.url + "/register"]})
    assert_actionable(call, "unsupported_file", words=("Supported formats",))
    assert call.error["code"] == codes.UNSUPPORTED_FILE
    assert requests_to(emu, "upload") == 1


async def test_4002_oversized_our_precheck_uses_the_skill_limit(
    emu: EmulatorServer, folders: Folders, mode: str
) -> None:
    settings = Settings.from_env(folders.env(emu.url, NEMO_SKILL="music-generator-free-easy"))
    big = folders.media / "huge-song.mp3"
    with big.open("wb") as fh:  # sparse: a real MP3 head, then a hole up to 201 MB
        fh.write(folders.song.read_bytes())
        fh.truncate(201 * 1024 * 1024)
    server = build_server(settings, studio_factory=fast_studio)
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        mcp = ToolClient(client)
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "200 MB" in (tools["nemo_upload"].description or "")
        call = await mcp.fail("nemo_upload", {"items": [str(big)]})
        assert_actionable(call, "file_too_large", words=("201 MB", "200 MB", "Compress"))
        # the song itself is fine
        await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    assert requests_to(emu, "upload") == 1


async def test_4002_oversized_from_the_server(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    emu.set_config(upload_limit_mb=0.05)
    call = await mcp.fail("nemo_upload", {"items": [str(folders.song)]})
    assert_actionable(call, "file_too_large")
    assert call.error["code"] == codes.FILE_TOO_LARGE


# --- 402, 429, 5xx -----------------------------------------------------------------------------
async def test_402_export_blocked(mcp: ToolClient, emu: EmulatorServer, folders: Folders) -> None:
    await _ready_timeline(mcp, folders)
    emu.set_faults("render_submit:402")
    call = await mcp.fail("nemo_export")
    assert_actionable(call, "export_blocked", words=("not a credit problem", "register or upgrade"))
    assert render_submits(emu) == 1
    # once the plan allows it, exporting the same timeline works
    emu.clear_faults()
    export = await mcp.ok("nemo_export")
    assert export.data["status"] == "downloaded", export.text
    assert render_submits(emu) == 2


async def test_429_retried_once_then_reported(mcp: ToolClient, emu: EmulatorServer) -> None:
    emu.set_faults("credits:429:times=1")
    await mcp.ok("nemo_get_credits")
    assert [r.status for r in emu.requests(endpoint="credits")] == [429, 200]
    emu.set_faults("credits:429")
    call = await mcp.fail("nemo_get_credits")
    assert_actionable(call, "rate_limited", words=("try again",))


async def test_5xx_bursts_are_retried_where_safe(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    emu.set_faults("state:500:times=2")
    up = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    state = await mcp.ok("nemo_get_state")
    assert state.data["session_id"] == up.data["session_id"]
    seen = len(emu.requests(endpoint="credits"))  # the upload read the balance for its note
    emu.set_faults("credits:503:times=2")
    await mcp.ok("nemo_get_credits")
    assert [r.status for r in emu.requests(endpoint="credits")][seen:] == [503, 503, 200]

    await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    emu.set_faults("render_poll:502:times=3")
    export = await mcp.ok("nemo_export")
    assert export.data["status"] == "downloaded"

    # a POST that may have run is not repeated: the message goes once and the error says so
    emu.set_faults("run_sse:503:times=1")
    posts = run_sse_posts(emu)
    call = await mcp.fail("nemo_chat", {"message": 'add a title "Hi" from 0 to 2 seconds'})
    assert_actionable(call, "server_error", words=("try again",))
    assert run_sse_posts(emu) == posts + 1

    # a burst longer than the retries is reported, not hidden
    emu.set_faults("credits:500")
    failed = await mcp.fail("nemo_get_credits")
    assert_actionable(failed, "server_error")


# --- the chat stream ---------------------------------------------------------------------------
async def test_stream_dropped_mid_turn_is_recovered_never_resent(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    emu.set_faults("run_sse:drop=3:times=1")
    chat = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    assert chat.data["status"] == "recovered", chat.text
    assert chat.data["changes"] and "dropped" in chat.text
    assert run_sse_posts(emu) == 1


async def test_stream_dropped_and_nothing_changed_is_reported(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    emu.set_config(broken_stream_applies_edit=False)
    emu.set_faults("run_sse:drop=2:times=1")
    chat = await mcp.call("nemo_chat", {"message": MUSIC_VIDEO})
    assert chat.data["status"] == "lost", chat.text
    assert "NOT resent" in chat.text
    assert run_sse_posts(emu) == 1


# --- invalid input -----------------------------------------------------------------------------
async def test_invalid_input(mcp: ToolClient, emu: EmulatorServer, folders: Folders) -> None:
    # the input schema rejects "" and the studio rejects "   ": both read the same
    empty = await mcp.fail("nemo_chat", {"message": ""})
    assert_actionable(empty, "invalid_input")
    assert empty.text == (
        "Error (invalid_input): The message is empty.\nNext step: Say what to make or change."
    )
    blank = await mcp.fail("nemo_chat", {"message": "   "})
    assert blank.text == empty.text

    bad_id = await mcp.fail("nemo_wait", {"job_id": "job_42; rm -rf"})
    assert_actionable(
        bad_id, "invalid_input", words=('"job_42; rm -rf" is not a valid job_id', "turn_")
    )
    assert "pydantic" not in bad_id.text and "validation error" not in bad_id.text
    # a client that read an all-digit session id as a number has lost its last digits
    number = await mcp.fail("nemo_get_state", {"session_id": 8963073393481960293})
    assert_actionable(
        number,
        "invalid_input",
        words=(
            "must be text in quotes, not the number",
            "lost its last digits",
            "nemo_list_sessions()",
        ),
    )
    short = await mcp.fail("nemo_get_state", {"session_id": 42})
    assert "The session_id must be text in quotes, not the number 42." in short.text
    assert "lost" not in short.text
    unknown = await mcp.fail("nemo_wait", {"job_id": "turn_000000"})
    assert_actionable(unknown, "invalid_input")
    unknown_render = await mcp.fail("nemo_wait", {"job_id": "render_1_abc"})
    assert_actionable(unknown_render, "invalid_input")

    outside = folders.root / "secret.mp3"
    outside.write_bytes(folders.song.read_bytes())
    for item in (
        "../secret.mp3",
        str(folders.media / ".." / "secret.mp3"),
        str(outside),
        "/etc/passwd",
    ):
        call = await mcp.fail("nemo_upload", {"items": [item]})
        assert_actionable(call, "unsafe_path", words=("allowed folders",))
    link = folders.media / "link.mp3"
    os.symlink(outside, link)
    call = await mcp.fail("nemo_upload", {"items": [str(link)]})
    assert_actionable(call, "unsafe_path")

    fake = folders.media / "holiday.mp4"
    fake.write_bytes(b"#!/bin/sh\necho this is not a video\n" * 20)
    call = await mcp.fail("nemo_upload", {"items": [str(fake)]})
    assert_actionable(call, "unsafe_path", words=("does not contain MP4",))

    # one bad item fails the whole call before anything is sent
    call = await mcp.fail("nemo_upload", {"items": [str(folders.song), str(fake)]})
    assert requests_to(emu, "upload") == 0

    nothing = await mcp.fail("nemo_export")
    assert_actionable(nothing, "invalid_input", words=("Nothing to export",))
    assert render_submits(emu) == 0
    assert not Path(folders.out).exists() or not list(Path(folders.out).iterdir())
