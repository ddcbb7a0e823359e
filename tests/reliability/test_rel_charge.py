"""One charge per message, under attack: identical ``nemo_chat`` calls made at once.

Models do issue parallel tool calls. Two identical calls at the same moment (over stdio, over
``serve --http``, or into two server processes sharing one state folder) must reach
``/run_sse`` once and be charged once; the second caller gets the first call's turn, saying it
was not sent again. The guard is one atomic step in the store (``SQLiteStore.claim_turn``), tested
here through real MCP clients against the emulator, and directly with many threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from rel_helpers import Rig, accepted_messages, http_served, http_tools, stdio_tools

from nemo_mcp.store.records import TurnRecord
from nemo_mcp.store.sqlite import SQLiteStore
from support.emulator import MUSIC_VIDEO, run_sse_posts
from support.results import Result, ToolClient

pytestmark = pytest.mark.anyio

# a turn long enough for both calls to overlap it; the emulator's render stays quick
SLOW_TURN: dict[str, Any] = {"generation_seconds": 1.0}
# a paid request that needs no upload (so it can be the very first call of a fresh install)
BACKGROUND_TRACK = "make a 5 second upbeat background track"


async def race(tools: list[ToolClient], args: dict[str, Any]) -> list[Result]:
    """The same call on every client at the same moment."""
    results: list[Result | None] = [None] * len(tools)
    start = anyio.Event()

    async def one(n: int) -> None:
        await start.wait()
        results[n] = await tools[n].ok("nemo_chat", args)

    async with anyio.create_task_group() as tg:
        for n in range(len(tools)):
            tg.start_soon(one, n)
        await anyio.sleep(0.05)
        start.set()
    return [r for r in results if r is not None]


async def available(tools: ToolClient) -> float:
    return float((await tools.ok("nemo_get_credits")).data["available"])


def check_once(results: list[Result], rig: Rig) -> None:
    """Both calls answered with the one turn; the second says it was not sent again."""
    assert len({r.data["turn_id"] for r in results}) == 1, [r.text for r in results]
    assert sum("not sent again" in r.text for r in results) == len(results) - 1
    rig.ledger.chat_races += 1


@asynccontextmanager
async def connected(rig: Rig, transport: str, env: dict[str, str]) -> AsyncIterator[ToolClient]:
    if transport == "stdio":
        async with stdio_tools(rig, env) as tools:
            yield tools
    else:
        with http_served(rig, env) as (url, _):
            async with http_tools(rig, url) as tools:
                yield tools


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["stdio", "http"])
@pytest.mark.parametrize("fresh", [True, False], ids=["no-session-yet", "session"])
async def test_identical_parallel_chats_reach_the_agent_once(
    rig: Rig, transport: str, fresh: bool
) -> None:
    emu = rig.emulator(**SLOW_TURN)
    env = rig.env(emu)
    message = BACKGROUND_TRACK if fresh else MUSIC_VIDEO
    args = {"message": message, "wait_seconds": 30}
    async with connected(rig, transport, env) as tools:
        if not fresh:  # else both calls also race to start the session
            await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        before = await available(tools)
        started = time.monotonic()
        results = await race([tools, tools], args)
        elapsed = time.monotonic() - started
        raced = before - await available(tools)
        # the cost of the same message sent once, on purpose, in another session
        await tools.ok("nemo_new_session")
        if not fresh:
            await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        before = await available(tools)
        await tools.ok("nemo_chat", args)
        once = before - await available(tools)
    check_once(results, rig)
    assert run_sse_posts(emu) == 2  # the raced message once, the control message once
    assert accepted_messages(emu) == [message, message]
    with emu.state.lock:  # parallel first calls agreed on one session (the other stays empty)
        assert len([s for s in emu.state.sessions.values() if s.history]) == 2
    with SQLiteStore(rig.home) as store:
        assert len(store.list_sessions(emu.url)) == 2
    assert raced == once > 0, (raced, once)
    rig.ledger.measurements[f"parallel chat, {transport}, {'fresh' if fresh else 'session'}"] = {
        "run_sse_posts_for_two_calls": 1,
        "credits_charged": raced,
        "credits_for_one_message": once,
        "elapsed_s": round(elapsed, 2),
    }


@pytest.mark.slow
async def test_two_processes_racing_the_same_message_send_it_once(rig: Rig) -> None:
    """Two servers (two client apps) on one state folder: the store's claim holds across
    processes; the loser waits for the winner's turn and reports it."""
    emu = rig.emulator(**SLOW_TURN)
    env = rig.env(emu)
    async with stdio_tools(rig, env) as first, stdio_tools(rig, env) as second:
        await first.ok("nemo_upload", {"items": [str(rig.song)]})
        results = await race([first, second], {"message": MUSIC_VIDEO, "wait_seconds": 30})
    check_once(results, rig)
    assert all(r.data["status"] in ("replied", "silent_changed") for r in results), results
    assert run_sse_posts(emu) == 1
    assert accepted_messages(emu) == [MUSIC_VIDEO]


async def test_parallel_different_messages_one_runs_one_is_told_to_wait(rig: Rig) -> None:
    """Two different messages at once into one session: the agent works on one at a time, so
    the second is refused (not queued, not sent) with the turn to wait for."""
    emu = rig.emulator(**SLOW_TURN)
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        results: dict[str, Result] = {}

        async def send(text: str) -> None:
            results[text] = await tools.call("nemo_chat", {"message": text, "wait_seconds": 30})

        async with anyio.create_task_group() as tg:
            tg.start_soon(send, MUSIC_VIDEO)
            tg.start_soon(send, "make a promo video from my photos")
    refused = [r for r in results.values() if r.is_error]
    assert len(refused) == 1, [r.text for r in results.values()]
    assert refused[0].error["kind"] == "invalid_input"
    assert "nemo_wait" in refused[0].text
    assert run_sse_posts(emu) == 1


def test_the_claim_is_atomic_across_connections(tmp_path: Path) -> None:
    """Many threads, each with its own connection to one database (as separate processes
    have), claim the same message at once: exactly one starts it."""
    SQLiteStore(tmp_path).close()  # created and migrated once
    barrier = threading.Barrier(12)
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(n: int) -> None:
        with SQLiteStore(tmp_path) as store:
            barrier.wait()
            got = store.claim_turn(
                TurnRecord(turn_id=f"turn_{n}", session_id="s1", message_hash="h"),
                duplicate_after=time.time() - 600,
                lease_seconds=60,
            )
        with lock:
            outcomes.append(got.outcome)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["duplicate"] * 11 + ["started"]
    with SQLiteStore(tmp_path) as store:
        assert [t.status for t in store.list_turns("s1")] == ["running"]


def test_a_dead_owners_turn_goes_stale_and_frees_the_session(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path) as store:
        first = store.claim_turn(
            TurnRecord(turn_id="turn_a", session_id="s1", message_hash="a"),
            duplicate_after=None,
            lease_seconds=60,
            now=1000.0,
        )
        assert first.outcome == "started"
        busy = store.claim_turn(
            TurnRecord(turn_id="turn_b", session_id="s1", message_hash="b"),
            duplicate_after=None,
            lease_seconds=60,
            now=1030.0,
        )
        assert (busy.outcome, busy.turn_id) == ("busy", "turn_a")
        # nobody renewed turn_a's lease: its process is gone
        later = store.claim_turn(
            TurnRecord(turn_id="turn_b", session_id="s1", message_hash="b"),
            duplicate_after=None,
            lease_seconds=60,
            now=1061.0,
        )
        assert later.outcome == "started"
        a = store.get_turn("turn_a")
        assert a is not None and a.status == "interrupted"
