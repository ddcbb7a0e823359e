"""Many workers, one truth: two hosted workers (real processes) on one PostgreSQL serve two users
a whole workflow each, every step on whichever worker; one worker is killed (SIGKILL) while it
polls a render, and the other finishes that render: one submit, one result, nothing shown to the
wrong user. And a user never reaches another user's sessions, turns, renders or uploads, through
any tool or resource."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from workers import cluster, user_client, user_token

from nemo_mcp.emulator import EmulatorServer
from support.emulator import MUSIC_VIDEO, fast
from support.results import Result, ToolClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def slow_renders() -> Iterator[EmulatorServer]:
    # renders take a few seconds, long enough to kill the worker polling one
    with EmulatorServer(**fast(render_slowdown=0.6)) as server:
        yield server


def submits_for(emu: EmulatorServer, session_id: str) -> int:
    """Renders NemoVideo (the emulator) accepted for one session: one per submit."""
    return sum(1 for r in emu.state.renders.values() if r.session_id == session_id)


async def make_ready_session(at: dict[str, ToolClient], media: str, order: list[str]) -> str:
    """New session, URL upload and the first chat, each on the worker ``order`` names."""
    new = await at[order[0]].ok("nemo_new_session", {"title": "split across workers"})
    sid = str(new.data["session_id"])
    song = {"items": [f"{media}/song.mp3"], "session_id": sid}
    await at[order[1]].ok("nemo_upload", song)
    chat = await at[order[2]].ok("nemo_chat", {"message": MUSIC_VIDEO, "session_id": sid})
    assert chat.data["status"] == "replied", chat.text
    return sid


async def test_two_users_two_workers_and_a_worker_killed_mid_render(
    root: Path, slow_renders: EmulatorServer, media: str
) -> None:
    emu = slow_renders
    with cluster(root, emu) as group:
        w1, w2 = group.start("w1"), group.start("w2")
        alice, bob = user_token(emu), user_token(emu)
        async with (
            user_client(w1.url, alice) as a1,
            user_client(w2.url, alice) as a2,
            user_client(w1.url, bob) as b1,
            user_client(w2.url, bob) as b2,
        ):
            a = {"w1": ToolClient(a1), "w2": ToolClient(a2)}
            b = {"w1": ToolClient(b1), "w2": ToolClient(b2)}
            for client in (*a.values(), *b.values()):
                await client.load_schemas()
            sid_a = await make_ready_session(a, media, ["w1", "w2", "w1"])
            sid_b = await make_ready_session(b, media, ["w2", "w1", "w2"])

            # alice's export starts on w2, which then dies while polling it
            started = await a["w2"].ok("nemo_export", {"session_id": sid_a, "wait_seconds": 0})
            render_a = str(started.data["render_id"])
            assert not started.data["done"], started.text
            w2.kill()
            # bob carries on on the surviving worker meanwhile
            done_b = await b["w1"].ok("nemo_export", {"session_id": sid_b})
            assert done_b.data["status"] == "completed", done_b.text
            # alice's render is finished by w1: she waits for it there
            waited = await a["w1"].ok("nemo_wait", {"job_id": render_a, "wait_seconds": 60})
            render = waited.data["render"]
            assert render["status"] == "completed" and render["url"], waited.text
            again = await a["w1"].ok("nemo_export", {"session_id": sid_a})  # same timeline
            assert again.data["reused"] and again.data["render_id"] == render_a

            # one submit per user's timeline; one result each; nothing crossed over
            assert submits_for(emu, sid_a) == 1
            assert submits_for(emu, sid_b) == 1
            sessions_a = await a["w1"].ok("nemo_list_sessions", {})
            sessions_b = await b["w1"].ok("nemo_list_sessions", {})
            assert [s["session_id"] for s in sessions_a.data["sessions"]] == [sid_a]
            assert [s["session_id"] for s in sessions_b.data["sessions"]] == [sid_b]
            assert done_b.data["url"] != render["url"]
        logs = group.logs()
        assert alice not in logs and bob not in logs
        assert "resumed 1 render(s) another worker left" in w1.log.read_text()


# --- isolation: bob tries alice's things through every tool and resource --------------------


async def _alice_has_everything(a: ToolClient, media: str) -> dict[str, str]:
    new = await a.ok("nemo_new_session", {"title": "alice's"})
    sid = str(new.data["session_id"])
    await a.ok("nemo_upload", {"items": [f"{media}/song.mp3"], "session_id": sid})
    chat = await a.ok("nemo_chat", {"message": MUSIC_VIDEO, "session_id": sid})
    export = await a.ok("nemo_export", {"session_id": sid})
    assert export.data["status"] == "completed", export.text
    turn = chat.data.get("turn_id") or chat.data.get("job_id") or ""
    return {
        "session": sid,
        "render": str(export.data["render_id"]),
        "turn": str(turn),
        "url": str(export.data["url"]),
    }


def _refused(res: Result, url: str) -> None:
    assert res.is_error, f"{res.name} let another user in: {res.text}"
    assert url not in res.text and "song" not in res.text, res.text


async def test_a_user_never_reaches_another_users_work(
    root: Path, emu: EmulatorServer, media: str
) -> None:
    with cluster(root, emu) as group:
        worker = group.start("w1")
        alice, bob = user_token(emu), user_token(emu)
        async with user_client(worker.url, alice) as ac, user_client(worker.url, bob) as bc:
            a, b = ToolClient(ac), ToolClient(bc)
            await a.load_schemas()
            await b.load_schemas()
            own = await _alice_has_everything(a, media)
            sid, rid = own["session"], own["render"]
            state_a = await a.ok("nemo_get_state", {"session_id": sid})
            calls: list[tuple[str, dict[str, Any]]] = [
                ("nemo_get_state", {"session_id": sid}),
                ("nemo_upload", {"items": [f"{media}/song.mp3"], "session_id": sid}),
                ("nemo_chat", {"message": "make it blue", "session_id": sid}),
                ("nemo_export", {"session_id": sid, "wait_seconds": 0}),
                ("nemo_wait", {"job_id": rid, "wait_seconds": 0}),
                ("nemo_cancel_render", {"render_id": rid}),
            ]
            if own["turn"]:
                calls.append(("nemo_wait", {"job_id": own["turn"], "wait_seconds": 0}))
            for name, args in calls:
                _refused(await b.call(name, args), own["url"])
            for uri in (
                f"nemo://sessions/{sid}/timeline",
                f"nemo://sessions/{sid}/draft",
                f"nemo://renders/{rid}",
                f"nemo://renders/{rid}/storyboard.png",
            ):
                try:
                    text = await b.read(uri)
                except Exception as err:  # an MCP error: refused
                    text = str(err)
                assert text.startswith("Error ("), (uri, text)  # refused, as a model reads it
                assert state_a.data["timeline"][:40] not in text, uri
                assert own["url"] not in text and "song" not in text, (uri, text)
            listed = await b.ok("nemo_list_sessions", {})
            assert sid not in listed.text
            # nothing bob did changed alice's work
            after = await a.ok("nemo_get_state", {"session_id": sid})
            assert after.data["timeline"] == state_a.data["timeline"]
            status = await a.ok("nemo_wait", {"job_id": rid, "wait_seconds": 0})
            assert status.data["render"]["status"] == "completed"
        await anyio.lowlevel.checkpoint()


async def test_a_worker_shutting_down_hands_its_renders_back(
    root: Path, slow_renders: EmulatorServer, media: str
) -> None:
    import psycopg

    emu = slow_renders
    with cluster(root, emu) as group:
        worker = group.start("w1")
        async with user_client(worker.url, user_token(emu)) as client:
            mcp = ToolClient(client)
            await mcp.load_schemas()
            sid = await make_ready_session({"w1": mcp}, media, ["w1", "w1", "w1"])
            started = await mcp.ok("nemo_export", {"session_id": sid, "wait_seconds": 0})
        rid = started.data["render_id"]
        with psycopg.connect(group.database_url) as conn:
            held = conn.execute("SELECT lease_owner FROM renders WHERE render_id = %s", (rid,))
            assert held.fetchone()[0] is not None  # type: ignore[index]
        worker.stop()  # SIGTERM: a graceful shutdown
        assert "Application shutdown complete" in worker.log.read_text()
        with psycopg.connect(group.database_url) as conn:
            row = conn.execute(
                "SELECT lease_owner, status FROM renders WHERE render_id = %s", (rid,)
            ).fetchone()
        assert row is not None and row[0] is None and row[1] != "completed", row
        # the next worker resumes it at its first sweep, without waiting for a lease to run out
        w2 = group.start("w2")
        async with user_client(w2.url, user_token(emu)) as _:
            pass
        with anyio.fail_after(30):
            while True:
                with psycopg.connect(group.database_url) as conn:
                    row = conn.execute(
                        "SELECT status, url FROM renders WHERE render_id = %s", (rid,)
                    ).fetchone()
                if row is not None and row[0] == "completed" and row[1]:
                    break
                await anyio.sleep(0.2)
        assert submits_for(emu, sid) == 1
