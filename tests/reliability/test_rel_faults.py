"""Fault injection through the MCP server (in-memory client) against the emulator.

Every scenario ends in a success or an actionable error result (a kind, a message and a next
step), and each asserts what must not happen: a chat message run twice, a render submitted twice
or left unfinished, a half-written file. The session-wide counters (see conftest) check the same
across the whole suite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rel_helpers import (
    SENTINEL_TOKEN,
    Rig,
    accepted_messages,
    partial_files,
    store_renders,
    submitted_render_ids,
)

from nemo_mcp.contract import paths
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.studio.turns import TurnLimits
from support.emulator import MUSIC_VIDEO, requests_to, run_sse_posts
from support.results import ToolClient, assert_actionable

pytestmark = pytest.mark.anyio


async def make_video(tools: ToolClient, rig: Rig, message: str = MUSIC_VIDEO) -> None:
    """Upload the song and have the agent build a timeline that can be exported."""
    await tools.ok("nemo_upload", {"items": [str(rig.song)]})
    turn = await tools.ok("nemo_chat", {"message": message, "wait_seconds": 30})
    assert turn.data["status"] in ("replied", "silent_changed"), turn.text
    assert turn.data["export_ready"], turn.text


async def export_ok(tools: ToolClient, **args: object) -> dict[str, object]:
    res = await tools.ok("nemo_export", {"wait_seconds": 60, **args})
    assert res.data["status"] == "downloaded", res.text
    assert Path(str(res.data["file"])).is_file()
    return res.data


# ------------------------------------------------------------------------------ rate limits
async def test_429_then_success_on_every_kind_of_call(rig: Rig) -> None:
    emu = rig.emulator()
    emu.set_faults("token:429:times=1", "credits:429:times=1")
    async with rig.tools(emu) as tools:
        credits = await tools.ok("nemo_get_credits")
        assert credits.data["available"] > 0
        emu.set_faults("session:429:times=1", "upload:429:times=1", "state:429:times=1")
        await make_video(tools, rig)
        emu.set_faults("render_submit:429:times=1", "render_poll:429:times=1", "cdn:429:times=1")
        await export_ok(tools)
    # a 429 means "not processed": one wait and one retry each, never more
    assert requests_to(emu, "token") == 2
    assert requests_to(emu, "session") == 2
    assert requests_to(emu, "upload") == 2
    assert run_sse_posts(emu) == 1
    assert accepted_messages(emu) == [MUSIC_VIDEO]
    assert len(submitted_render_ids(emu)) == 1


async def test_429_on_the_chat_stream_is_reported_and_the_message_can_be_sent(rig: Rig) -> None:
    """/run_sse is never repeated by the client, not even after a 429: the caller is told when
    to send it again, and the refused message was not run (nor charged)."""
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        emu.set_faults("run_sse:429:times=1")
        res = await tools.fail("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        assert "try again" in assert_actionable(res, "rate_limited")["hint"].lower()
        assert accepted_messages(emu) == []
        turn = await tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        assert turn.data["status"] == "replied", turn.text
    assert run_sse_posts(emu) == 2
    assert accepted_messages(emu) == [MUSIC_VIDEO]


async def test_429_twice_is_an_actionable_error_then_success(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_get_credits")
        emu.set_faults("credits:429:times=2")
        res = await tools.fail("nemo_get_credits")
        err = assert_actionable(res, "rate_limited")
        assert "try again" in err["hint"].lower()
        await tools.ok("nemo_get_credits")


# ----------------------------------------------------------- a flow that follows the hints
CALLS = ("nemo_get_credits", "nemo_upload", "nemo_chat", "nemo_export")


async def resilient_flow(tools: ToolClient, rig: Rig) -> dict[str, str]:
    """Credits, upload, chat, export; on an error result, do what its hint says once.

    Returns the error kinds seen, by tool. Ends with a downloaded MP4 whatever happened.
    """
    errors: dict[str, str] = {}

    async def attempt(name: str, args: dict[str, object]) -> bool:
        res = await tools.call(name, args)
        if not res.is_error:
            return True
        errors[name] = assert_actionable(res)["kind"]
        return False

    if not await attempt("nemo_get_credits", {}):
        await tools.ok("nemo_get_credits")

    if not await attempt("nemo_upload", {"items": [str(rig.song)]}):
        # "check the current state before repeating": only upload again if it is not there
        # (no session at all is an error of its own: reading never starts one)
        state = await tools.call("nemo_get_state")
        if state.is_error:
            assert assert_actionable(state, "invalid_input")
            names = []
        else:
            names = [str(u.get("name")) for u in state.data["uploads"]]
        if rig.song.name not in names:
            await tools.ok("nemo_upload", {"items": [str(rig.song)]})

    chat_args: dict[str, object] = {"message": MUSIC_VIDEO, "wait_seconds": 30}
    if not await attempt("nemo_chat", chat_args):
        await tools.ok("nemo_chat", chat_args)
    else:
        turn = tools.calls[-1]
        if turn.data["status"] == "lost":
            # lost: nothing changed after every check; the note says to send it again ourselves
            assert "NOT resent" in turn.text or "not resent" in turn.text, turn.text
            errors["nemo_chat"] = "lost"
            await tools.ok("nemo_chat", {**chat_args, "force": True})
    state = await tools.ok("nemo_get_state")
    assert state.data["export_ready"], state.text

    if not await attempt("nemo_export", {"wait_seconds": 60}):
        await export_ok(tools)
    else:
        assert tools.calls[-1].data["status"] == "downloaded", tools.calls[-1].text
    return errors


def assert_clean_outcome(emu: EmulatorServer, rig: Rig) -> None:
    """One accepted message, one copy of the song, one complete MP4 and every render settled."""
    assert accepted_messages(emu) == [MUSIC_VIDEO]
    with emu.state.lock:
        live = [s for s in emu.state.sessions.values() if s.turns]
        assert len(live) == 1
        names = [v.get("filename") for v in live[0].video_infos]
    assert names.count(rig.song.name) == 1, names
    mp4s = sorted(rig.out.glob("*.mp4"))
    assert len(mp4s) == 1, mp4s
    assert partial_files(rig.out) == []
    remote = submitted_render_ids(emu)
    local = store_renders(rig.home)
    assert all(local.get(rid) in ("downloaded", "failed", "cancelled") for rid in remote), local


# Which tool ends in an error result (and of which kind) when one request to ENDPOINT fails.
# Anything not listed must succeed without the caller noticing.
RESET_ERRORS: dict[str, dict[str, str]] = {
    # the request went out and no answer came back: from here it may have taken effect
    "session": {"nemo_upload": "outcome_unknown"},
    "upload": {"nemo_upload": "outcome_unknown"},
    "run_sse": {"nemo_chat": "lost"},  # refused before it ran: nothing changed, resend it
    "render_submit": {"nemo_export": "render_failed"},  # looked up: never arrived
}
TRUNCATE_ERRORS: dict[str, dict[str, str]] = {
    "session": {"nemo_upload": "outcome_unknown"},
    "upload": {"nemo_upload": "outcome_unknown"},  # it arrived: the state shows it, no re-upload
}
ENDPOINTS = (
    "token",
    "session",
    "upload",
    "credits",
    "state",
    "run_sse",
    "render_submit",
    "render_poll",
    "cdn",
)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_connection_reset_on_every_endpoint(rig: Rig, endpoint: str) -> None:
    emu = rig.emulator()
    emu.set_faults(f"{endpoint}:reset:times=1")
    async with rig.tools(emu) as tools:
        errors = await resilient_flow(tools, rig)
    assert errors == RESET_ERRORS.get(endpoint, {})
    assert emu.state.faults.list() == []  # the fault did fire
    assert_clean_outcome(emu, rig)
    # the token request is repeated once (it never arrived); one token in all
    assert requests_to(emu, "token") == (2 if endpoint == "token" else 1)
    assert len(emu.state.tokens) == 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_truncated_body_on_every_endpoint(rig: Rig, endpoint: str) -> None:
    emu = rig.emulator()
    emu.set_faults(f"{endpoint}:truncate:times=1")
    async with rig.tools(emu) as tools:
        errors = await resilient_flow(tools, rig)
    assert errors == TRUNCATE_ERRORS.get(endpoint, {})
    assert emu.state.faults.list() == []
    assert_clean_outcome(emu, rig)
    if endpoint == "token":
        # the first token's answer was lost, the client id then refused (one token per client
        # per 7 days), so a fresh client id got the one in use: no week-long lockout
        assert requests_to(emu, "token") == 3
        assert len(emu.state.tokens) == 2
    if endpoint == "run_sse":  # the stream broke mid-turn; the edit still went through
        turn = next(c for c in tools.calls if c.name == "nemo_chat")
        assert turn.data["status"] == "recovered", turn.text
    if endpoint == "cdn":  # resumed with a Range request, not restarted
        ranged = [r for r in emu.requests(endpoint="cdn") if r.header("range")]
        assert len(ranged) == 1, [r.header("range") for r in emu.requests(endpoint="cdn")]


# ------------------------------------------------------------------------------ 5xx bursts
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_5xx_bursts_on_reads_are_invisible(rig: Rig, mode: str) -> None:
    emu = rig.emulator()
    emu.set_faults(
        "credits:500:times=2",
        "state:502:times=2",
        "render_poll:503:times=2",
        "cdn:504:times=2",
    )
    async with rig.tools(emu, mode=mode) as tools:
        errors = await resilient_flow(tools, rig)
    assert errors == {}
    assert emu.state.faults.list() == []
    assert_clean_outcome(emu, rig)


@pytest.mark.slow
async def test_long_5xx_burst_while_polling_a_render(rig: Rig) -> None:
    """Three polls in a row fail (each after its own retries): the render is still waited for."""
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_faults("render_poll:503:times=9")
        res = await tools.ok("nemo_export", {"wait_seconds": 60})
    assert res.data["status"] == "downloaded", res.text
    assert any("polling issue" in (m or "") for _, _, m in res.progress), res.progress
    assert emu.state.faults.list() == []
    assert_clean_outcome(emu, rig)


@pytest.mark.parametrize(
    ("fault", "tool", "kind"),
    [
        ("session:500", "nemo_upload", "server_error"),
        ("upload:503", "nemo_upload", "server_error"),
        ("run_sse:500", "nemo_chat", "server_error"),
        ("run_sse:503", "nemo_chat", "server_error"),
        ("render_submit:500", "nemo_export", "server_error"),
        ("render_submit:502", "nemo_export", "render_failed"),  # looked up: never arrived
        ("render_submit:504", "nemo_export", "render_failed"),
    ],
)
async def test_5xx_on_a_write_is_reported_never_repeated(
    rig: Rig, fault: str, tool: str, kind: str
) -> None:
    emu = rig.emulator()
    emu.set_faults(f"{fault}:times=1")
    async with rig.tools(emu) as tools:
        errors = await resilient_flow(tools, rig)
    assert errors == {tool: kind}
    assert_clean_outcome(emu, rig)
    endpoint = fault.split(":")[0]
    # the failed write was sent once; the caller's retry is the second request
    assert requests_to(emu, endpoint) == 2


@pytest.mark.slow
async def test_hanging_requests_time_out_and_recover(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nemo_mcp import constants

    monkeypatch.setattr(constants, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(constants, "TURN_SOCKET_READ_TIMEOUT", 0.5)
    emu = rig.emulator()
    emu.set_faults("credits:hang:times=1", "state:hang:times=1", "run_sse:hang:times=1")
    async with rig.tools(emu) as tools:
        errors = await resilient_flow(tools, rig)
    # a read that hangs is retried; a chat message whose answer never came is not resent, and
    # after the checks found nothing changed the caller is told to send it again
    assert errors == {"nemo_chat": "lost"}
    assert emu.state.faults.list() == []
    assert_clean_outcome(emu, rig)


# -------------------------------------------------------------------------------- tokens
async def test_anonymous_token_expiring_mid_session_is_renewed_transparently(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.expire_token()
        await tools.ok("nemo_get_state")
        emu.expire_token()
        turn = await tools.ok("nemo_chat", {"message": 'add a title "Hi" from 0 to 2 seconds'})
        assert turn.data["status"] in ("replied", "silent_changed"), turn.text
        emu.expire_token()
        started = await tools.ok("nemo_export", {"wait_seconds": 0})
        emu.expire_token()  # while the render runs: polling renews it too
        render_id = started.data["render_id"]
        done = await tools.ok("nemo_wait", {"job_id": render_id, "wait_seconds": 60})
        assert done.data["render"]["status"] == "downloaded", done.text
    assert all(not c.is_error for c in tools.calls)
    assert requests_to(emu, "token") == 5
    assert len(accepted_messages(emu)) == 2  # the refused (401) message ran once, after renewal
    assert len(set(accepted_messages(emu))) == 2


async def test_expired_nemo_token_says_to_replace_it(rig: Rig) -> None:
    emu = rig.emulator(registered_tokens=(SENTINEL_TOKEN,))
    async with rig.tools(emu, NEMO_TOKEN=SENTINEL_TOKEN) as tools:
        await tools.ok("nemo_get_credits")
        emu.expire_token(SENTINEL_TOKEN)
        res = await tools.fail("nemo_get_credits")
        err = assert_actionable(res, "auth")
        assert "NEMO_TOKEN" in err["hint"]
        res = await tools.fail("nemo_chat", {"message": "make a video"})
        assert_actionable(res, "auth")
    assert (
        requests_to(emu, "token") == 0
    )  # a user's own token is never swapped for an anonymous one
    assert accepted_messages(emu) == []


# ------------------------------------------------------------------------------ sessions
@pytest.mark.parametrize("how", ["deleted", "fault"])
async def test_session_gone_starts_a_new_one_and_says_so(rig: Rig, how: str) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        old = (await tools.ok("nemo_get_state")).data["session_id"]
        if how == "deleted":
            emu.delete_session(old)
        else:
            emu.set_faults("state:1002:times=1")
        # reading is read-only: it says the session is gone and starts nothing
        res = await tools.fail("nemo_get_state")
        err = assert_actionable(res, "session_not_found")
        assert "upload" in err["hint"].lower() and err["details"]["session_id"] == old
        assert requests_to(emu, "session") == 1
        # the next upload starts the new session, and says so when the old one is really gone
        up = await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        new = up.data["session_id"]
        assert new != old
        listed = await tools.ok("nemo_list_sessions")
        assert listed.data["current_session_id"] == new
        gone = {s["session_id"]: s["gone"] for s in listed.data["sessions"]}
        assert gone[old] is True and gone[new] is False
        await make_video(tools, rig, message="make a music video synced to my song, again")
        await export_ok(tools)


async def test_session_gone_during_chat(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        sid = (await tools.ok("nemo_get_state")).data["session_id"]
        emu.set_faults("run_sse:1002:times=1")
        res = await tools.fail("nemo_chat", {"message": MUSIC_VIDEO})
        assert assert_actionable(res, "session_not_found")["details"]["old_session_id"] == sid
    assert accepted_messages(emu) == []


# ------------------------------------------------------------------------------- credits
@pytest.mark.parametrize("style", ["event", "error_frame", "rest"])
async def test_out_of_credits_links_registration_and_export_stays_free(
    rig: Rig, style: str
) -> None:
    emu = rig.emulator(credits_error=style)
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        user = next(iter(emu.state.users))
        emu.set_credits(0, user_id=user)
        res = await tools.fail("nemo_chat", {"message": 'add a title "More" from 0 to 2 seconds'})
        err = assert_actionable(res, "no_credits")
        assert f"/register?bind={user}" in err["hint"], err
        assert user.startswith("anon_")
        credits = await tools.ok("nemo_get_credits")
        assert credits.data["registration_url"].endswith(f"bind={user}")
        await export_ok(tools)  # export costs nothing
    assert emu.state.users[user].available == 0 and emu.state.users[user].frozen == 0


async def test_export_blocked_402_is_a_plan_problem_not_credits(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_faults("render_submit:402")
        res = await tools.fail("nemo_export", {"wait_seconds": 30})
        err = assert_actionable(res, "export_blocked")
        assert "not a credit" in err["hint"]
        assert requests_to(emu, "render_submit") == 1  # never retried
        assert submitted_render_ids(emu) == []
        assert set(store_renders(rig.home).values()) == {"failed"}
        emu.clear_faults()
        await export_ok(tools)


# ------------------------------------------------------------------------------ the stream
@pytest.mark.parametrize("events", [0, 2, 5])
async def test_stream_dropped_mid_turn_recovers_by_reading_state(rig: Rig, events: int) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        emu.set_faults(f"run_sse:drop={events}:times=1")
        turn = await tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        assert turn.data["status"] == "recovered", turn.text
        assert turn.data["changes"], turn.text
        assert "not resent" in turn.text or "went through" in turn.text, turn.text
        assert any("not resent" in (m or "") for _, _, m in turn.progress), turn.progress
        await export_ok(tools)
    assert run_sse_posts(emu) == 1
    assert accepted_messages(emu) == [MUSIC_VIDEO]


@pytest.mark.parametrize("ending", ["drop=1", "heartbeats_only"])
async def test_broken_turn_that_never_lands_is_reported_lost_not_resent(
    rig: Rig, ending: str
) -> None:
    emu = rig.emulator(broken_stream_applies_edit=False)
    limits = TurnLimits(
        recovery_first_wait=0.2,
        recovery_next_wait=0.2,
        recovery_max_unchanged=2,
        progress_every=0.5,
        idle_seconds=0.8,  # heartbeats only for this long counts as a stall
    )
    async with rig.tools(emu, limits=limits) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        emu.set_faults(f"run_sse:{ending}:times=1")
        turn = await tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        assert turn.data["status"] == "lost", turn.text
        assert "NOT resent" in turn.text, turn.text
        assert "nemo_get_state" in turn.text, turn.text
        assert run_sse_posts(emu) == 1
        # the same message right away is not sent again either, unless asked
        again = await tools.ok("nemo_chat", {"message": MUSIC_VIDEO})
        assert "not sent again" in again.text and "force=true" in again.text, again.text
        assert run_sse_posts(emu) == 1
    assert accepted_messages(emu) == [MUSIC_VIDEO]


async def test_heartbeats_only_until_the_idle_limit_then_recovered(rig: Rig) -> None:
    emu = rig.emulator()
    limits = TurnLimits(
        recovery_first_wait=0.3,
        recovery_next_wait=0.3,
        recovery_max_unchanged=3,
        progress_every=0.5,
        idle_seconds=0.8,
    )
    async with rig.tools(emu, limits=limits) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        emu.set_faults("run_sse:heartbeats_only:times=1")
        turn = await tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        assert turn.data["status"] == "recovered", turn.text
    assert run_sse_posts(emu) == 1
    assert accepted_messages(emu) == [MUSIC_VIDEO]


@pytest.mark.parametrize("ending", ["error_v1", "error_v2", "model_error"])
async def test_error_frames_fail_the_turn_with_the_reason(rig: Rig, ending: str) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        emu.set_faults(f"run_sse:{ending}:times=1")
        turn = await tools.fail("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        assert turn.text.startswith("Error (turn_failed): The editing agent stopped"), turn.text
        reason = "Malformed function call" if ending == "model_error" else "overloaded"
        assert reason in turn.text, turn.text  # the reason, in words
        assert "nemo_get_state" in turn.text, turn.text
        assert "export" not in turn.text.lower(), turn.text
        ok = await tools.ok("nemo_chat", {"message": "make a music video for my song please"})
        assert ok.data["status"] == "replied", ok.text
    assert run_sse_posts(emu) == 2
    assert len(accepted_messages(emu)) == 2


# ------------------------------------------------------------------------------- renders
async def test_render_failed_is_retried_once_with_a_new_id(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_config(fail_renders=1)
        data = await export_ok(tools)
    ids = submitted_render_ids(emu)
    assert len(ids) == 2 and ids[0] != ids[1]
    assert data["render_id"] == ids[1]
    local = store_renders(rig.home)
    assert local == {ids[0]: "failed", ids[1]: "downloaded"}
    assert emu.render(ids[0]).status == "failed"  # type: ignore[union-attr]


async def test_render_failing_twice_is_an_actionable_error(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_config(fail_renders=2)
        res = await tools.fail("nemo_export", {"wait_seconds": 60})
        err = assert_actionable(res, "render_failed")
        assert "export again" in err["hint"].lower() or "nemo_get_state" in err["hint"]
        assert len(submitted_render_ids(emu)) == 2  # retried once, not more
        assert set(store_renders(rig.home).values()) == {"failed"}
        await export_ok(tools)
    assert len(submitted_render_ids(emu)) == 3


async def test_render_failing_while_polled_is_retried_once(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_faults("render_poll:fail:times=1")
        data = await export_ok(tools)
    ids = submitted_render_ids(emu)
    assert len(ids) == 2 and data["render_id"] == ids[1]


@pytest.mark.slow
async def test_render_poll_failing_for_good_then_waited_for(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_faults("render_poll:500")
        res = await tools.fail("nemo_export", {"wait_seconds": 60})
        assert_actionable(res, "server_error")
        render_id = submitted_render_ids(emu)[0]
        assert store_renders(rig.home)[render_id] not in ("failed", "downloaded")
        emu.clear_faults()
        done = await tools.ok("nemo_wait", {"job_id": render_id, "wait_seconds": 60})
        assert done.data["render"]["status"] == "downloaded", done.text
    assert len(submitted_render_ids(emu)) == 1


@pytest.mark.parametrize("action", ["reset", "truncate"])
async def test_cancel_survives_a_broken_connection(rig: Rig, action: str) -> None:
    emu = rig.emulator(render_slowdown=20.0)
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        started = await tools.ok("nemo_export", {"wait_seconds": 0.2})
        render_id = started.data["render_id"]
        emu.set_faults(f"render_cancel:{action}:times=1")
        res = await tools.ok("nemo_cancel_render", {"render_id": render_id})
        assert res.data["status"] == "cancelled", res.text
    remote = emu.render(render_id)
    assert remote is not None and remote.cancel_requested
    assert requests_to(emu, "render_cancel") == 2  # cancelling is safe to repeat: it was
    assert store_renders(rig.home) == {render_id: "cancelled"}


# ------------------------------------------------------------------------------ downloads
@pytest.mark.parametrize("fault", ["cdn:truncate:times=3", "cdn:reset:times=2"])
async def test_download_interrupted_is_resumed(rig: Rig, fault: str) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_faults(fault)
        await export_ok(tools)
    ranges = [r.header("range") for r in emu.requests(endpoint="cdn") if r.header("range")]
    if "truncate" in fault:
        assert len(ranges) == 3 and all(r and r.startswith("bytes=") for r in ranges), ranges
    assert_clean_outcome(emu, rig)


@pytest.mark.slow
async def test_download_failing_for_good_leaves_nothing_then_resumes(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_faults("cdn:truncate=2000")
        res = await tools.fail("nemo_export", {"wait_seconds": 60})
        assert_actionable(res, "download")
        assert list(rig.out.glob("*")) == []  # no partial file, no temporary file
        emu.set_faults("cdn:500")
        render_id = submitted_render_ids(emu)[0]
        res = await tools.fail("nemo_wait", {"job_id": render_id, "wait_seconds": 60})
        assert_actionable(res, "download")
        assert list(rig.out.glob("*")) == []
        emu.clear_faults()
        done = await tools.ok("nemo_wait", {"job_id": render_id, "wait_seconds": 60})
        assert done.data["render"]["status"] == "downloaded", done.text
    assert len(submitted_render_ids(emu)) == 1
    assert_clean_outcome(emu, rig)


@pytest.mark.skipif(os.name == "nt", reason="POSIX locks")
def test_only_temporary_files_of_dead_downloads_are_swept(tmp_path: Path) -> None:
    """A ``.part`` file is removed only when no process holds it and it is not brand new."""
    import fcntl

    from nemo_mcp.files.partial import sweep_stale_parts

    def part(name: str, age: float) -> Path:
        path = tmp_path / name
        path.write_bytes(b"half a video")
        when = path.stat().st_mtime - age
        os.utime(path, (when, when))
        return path

    dead = part("a.mp4.abcd1234.part", 60)
    live = part("b.mp4.efgh5678.part", 60)
    fresh = part("c.mp4.ijkl9012.part", 0)
    other = part("notes.part", 60)  # not one of ours
    holder = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert sweep_stale_parts(tmp_path) == 1
        assert not dead.exists() and live.exists() and fresh.exists() and other.exists()
    finally:
        os.close(holder)
    assert sweep_stale_parts(tmp_path) == 1  # released: its writer is gone
    assert not live.exists() and fresh.exists()


def test_emulator_connections_send_without_delay(rig: Rig) -> None:
    """Kept-alive connections to the emulator have Nagle's algorithm off: otherwise every
    response after the first waits ~40 ms for a delayed ACK (found by the benchmarks)."""
    import socket

    import httpx

    emu = rig.emulator()
    with httpx.Client(base_url=emu.url, trust_env=False) as http:
        for _ in range(2):
            http.get("/")
        transports = list(emu.emulator.connections._by_peer.values())
        assert transports
        for transport in transports:
            sock = transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_render_unknown_for_a_moment_is_picked_up_again(rig: Rig) -> None:
    """A poll answered 404 for a render that was accepted: the export reports it, and doing
    what the hint says (export again) finds the same render instead of submitting another."""
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_faults("render_poll:404:times=1")
        res = await tools.call("nemo_export", {"wait_seconds": 60})
        if res.is_error:
            assert_actionable(res, "render_not_found")
            res = await tools.ok("nemo_export", {"wait_seconds": 60})
        assert res.data["status"] == "downloaded", res.text
    assert len(submitted_render_ids(emu)) == 1
    assert_clean_outcome(emu, rig)


@pytest.mark.parametrize("action", ["reset", "truncate"])
async def test_claim_link_and_fallback_download_survive_broken_connections(
    rig: Rig, action: str
) -> None:
    """The two endpoints the studio does not use in its flow (the browser link's claim token and
    the API's own download route), through the client: retried or resumed, never half-done."""
    from nemo_mcp.api.client import NemoClient

    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        data = await export_ok(tools)
    render_id = str(data["render_id"])
    sid = str(data["session_id"])
    settings = rig.settings(emu)
    emu.set_faults(f"claim:{action}:times=1", f"download:{action}:times=1")
    async with NemoClient(settings) as client:
        link = await client.claim_link("", sid)
        assert "/workspace/claim?ct=" in link
        dest = rig.out / "fallback.mp4"
        got = await client.download(
            emu.url + paths.fill(paths.RENDER_DOWNLOAD, render_id=render_id), dest
        )
        assert got.size == dest.stat().st_size > 0
        assert got.resumed == (1 if action == "truncate" else 0)
    assert emu.state.faults.list() == []
    assert requests_to(emu, "claim") == 2 and requests_to(emu, "download") == 2
    assert partial_files(rig.out) == []
