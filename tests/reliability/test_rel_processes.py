"""Real server processes (``python -m nemo_mcp serve`` over stdio, as MCP clients start them):
killed with SIGKILL mid-render and mid-download and restarted on the same state folder, two of
them sharing one state folder under load, and one killed in the middle of writing state."""

from __future__ import annotations

import os
import signal
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from rel_helpers import Ledger, Rig, partial_files, submitted_render_ids

from nemo_mcp.store.sqlite import SQLiteStore
from support.emulator import MUSIC_VIDEO, requests_to
from support.results import ToolClient

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc") or os.name == "nt", reason="SIGKILL, /proc"),
]


def server_pids(home: Path) -> list[int]:
    """Our child ``nemo_mcp serve`` processes whose state folder is ``home``."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != me:
                continue
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        ours = b"nemo_mcp" in cmdline and b"serve" in cmdline
        if ours and f"NEMO_MCP_HOME={home}".encode() in environ:
            found.append(int(entry.name))
    return found


class Server:
    """One stdio server process and the MCP client talking to it."""

    def __init__(self, rig: Rig, env: dict[str, str]) -> None:
        self.rig = rig
        self.env = env
        self.errlog: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.tools: ToolClient | None = None
        self.pid: int | None = None
        self.killed = False

    def stderr(self) -> str:
        self.errlog.seek(0)
        return self.errlog.read()

    def kill(self) -> None:
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        self.killed = True


@asynccontextmanager
async def served(rig: Rig, env: dict[str, str], *, killed: bool = False) -> AsyncIterator[Server]:
    """Start a server and connect; keeps its stderr for the token scan. With ``killed`` the
    connection is expected to break (the test kills the process)."""
    server = Server(rig, env)
    home = Path(env["NEMO_MCP_HOME"])
    before = set(server_pids(home))
    try:
        try:
            async with Client(stdio_client(rig.stdio(env), errlog=server.errlog)) as client:
                server.tools = rig.ledger.watch(client)
                await server.tools.ok("nemo_list_sessions")
                new = [p for p in server_pids(home) if p not in before]
                assert len(new) == 1, new
                server.pid = new[0]
                yield server
        except Exception as exc:
            # after a kill the connection breaks (that is expected); a failed check never hides
            failed_check = isinstance(exc, AssertionError) or (
                isinstance(exc, BaseExceptionGroup) and exc.subgroup(AssertionError) is not None
            )
            if not (killed and server.killed) or failed_check:
                raise
    finally:
        rig.ledger.keep(server.stderr())
        server.errlog.close()


async def wait_for(check: Any, timeout: float = 30.0) -> None:
    with anyio.fail_after(timeout):
        while not check():  # noqa: ASYNC110 (a condition in another thread or process)
            await anyio.sleep(0.05)


def integrity(home: Path) -> str:
    conn = sqlite3.connect(home / "state.db")
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


# ------------------------------------------------------------------------- kill and restart
async def test_server_killed_during_a_render_then_restarted_finishes_it(rig: Rig) -> None:
    emu = rig.emulator(render_slowdown=1.0)
    env = rig.env(emu)
    render_id = ""
    async with served(rig, env, killed=True) as a:
        assert a.tools is not None
        await a.tools.ok("nemo_upload", {"items": [str(rig.song)]})
        await a.tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        started = await a.tools.ok("nemo_export", {"wait_seconds": 0.3})
        render_id = started.data["render_id"]
        assert started.data["status"] in ("submitting", "pending", "processing")
        a.kill()
    with SQLiteStore(rig.home) as store:
        rec = store.get_render(render_id)
        assert rec is not None and rec.status in ("submitting", "pending", "processing")
    assert integrity(rig.home) == "ok"

    async with served(rig, env) as b:
        assert b.tools is not None
        done = await b.tools.ok("nemo_wait", {"job_id": render_id, "wait_seconds": 60})
        assert done.data["render"]["status"] == "downloaded", done.text
        assert Path(done.data["render"]["file"]).parent == rig.out
    assert submitted_render_ids(emu) == [render_id]  # picked up, not submitted again
    assert partial_files(rig.out) == []
    assert len(list(rig.out.glob("*.mp4"))) == 1


async def test_server_killed_mid_download_leaves_no_partial_file(rig: Rig) -> None:
    emu = rig.emulator()
    env = rig.env(emu)
    async with served(rig, env, killed=True) as a:
        assert a.tools is not None
        await a.tools.ok("nemo_upload", {"items": [str(rig.song)]})
        await a.tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        # the download starts, sends half the file, then stalls until the process dies
        emu.set_faults("cdn:truncate:delay=0:times=1", "cdn:hang:times=1")
        started = await a.tools.ok("nemo_export", {"wait_seconds": 0.2})
        render_id = started.data["render_id"]
        await wait_for(lambda: requests_to(emu, "cdn") >= 2)
        assert list(rig.out.glob("*.part")), "the download should be under way"
        a.kill()
    emu.clear_faults()
    stale = list(rig.out.glob("*.part"))
    assert len(stale) == 1  # what a killed process leaves behind...
    old = stale[0].stat().st_mtime - 60
    os.utime(stale[0], (old, old))  # (as if the restart came a minute later)
    async with served(rig, env) as b:
        assert b.tools is not None
        done = await b.tools.ok("nemo_wait", {"job_id": render_id, "wait_seconds": 60})
        assert done.data["render"]["status"] == "downloaded", done.text
    assert partial_files(rig.out) == []  # ...is swept by the next download into the folder
    assert len(list(rig.out.glob("*.mp4"))) == 1


# ------------------------------------------------------------- two processes, one folder
async def test_two_servers_share_one_state_folder_under_load(rig: Rig) -> None:
    emu = rig.emulator()
    env = rig.env(emu)
    song_b = rig.media_dir / "other-song.mp3"
    song_b.write_bytes(rig.song.read_bytes())
    results: dict[str, dict[str, Any]] = {}

    async def work(server: Server, name: str, song: Path) -> None:
        tools = server.tools
        assert tools is not None
        credits = await tools.ok("nemo_get_credits")  # both at once: one token between them
        assert credits.data["available"] > 0
        sid = (await tools.ok("nemo_new_session", {"title": name})).data["session_id"]
        await tools.ok("nemo_upload", {"items": [str(song)], "session_id": sid})
        await tools.ok("nemo_get_credits")
        turn = await tools.ok(
            "nemo_chat",
            {"message": f"{MUSIC_VIDEO} ({name})", "session_id": sid, "wait_seconds": 30},
        )
        assert turn.data["export_ready"], turn.text
        await tools.ok("nemo_list_sessions")
        render = await tools.ok("nemo_export", {"session_id": sid, "wait_seconds": 60})
        assert render.data["status"] == "downloaded", render.text
        results[name] = {"session_id": sid, "file": render.data["file"]}

    async with served(rig, env) as a, served(rig, env) as b:
        async with anyio.create_task_group() as tg:
            tg.start_soon(work, a, "a", rig.song)
            tg.start_soon(work, b, "b", song_b)
        assert a.tools is not None
        listed = await a.tools.ok("nemo_list_sessions")  # A sees B's session too
        sids = {s["session_id"] for s in listed.data["sessions"]}
        assert {results["a"]["session_id"], results["b"]["session_id"]} <= sids

    assert requests_to(emu, "token") == 1
    assert len(emu.state.tokens) == 1
    assert integrity(rig.home) == "ok"
    with SQLiteStore(rig.home) as store:
        assert all(r.status == "downloaded" for r in store.list_renders())
        assert len(store.list_renders()) == 2
        assert not store.list_turns(unfinished_only=True)
        for name in ("a", "b"):
            sess = store.get_session(results[name]["session_id"])
            assert sess is not None and sess.title == name and not sess.gone
            assert sess.last_state is not None
    files = {results["a"]["file"], results["b"]["file"]}
    assert len(files) == 2 and all(Path(f).is_file() for f in files)
    assert partial_files(rig.out) == []


async def test_server_killed_mid_write_leaves_a_readable_state(rig: Rig, ledger: Ledger) -> None:
    emu = rig.emulator()
    env = rig.env(emu)
    async with served(rig, env, killed=True) as c:
        tools = c.tools
        assert tools is not None
        await tools.ok("nemo_get_credits")

        async def hammer(n: int) -> None:
            for i in range(50):
                try:
                    await tools.call("nemo_new_session", {"title": f"w{n}-{i}"})
                except Exception:  # the process is gone: that is the point
                    return

        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(hammer, n)
            await wait_for(lambda: len(emu.state.sessions) >= 20)
            c.kill()
    assert integrity(rig.home) == "ok"
    with SQLiteStore(rig.home) as store:
        before = store.list_sessions(emu.url)
        assert len(before) >= 1
        current = store.current_session(emu.url)
        assert current is not None
    async with served(rig, env) as d:
        assert d.tools is not None
        listed = await d.tools.ok("nemo_list_sessions")
        assert len(listed.data["sessions"]) == len(before)
        await d.tools.ok("nemo_upload", {"items": [str(rig.song)]})
        turn = await d.tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        assert turn.data["status"] == "replied", turn.text
    assert requests_to(emu, "token") == 1  # the stored token outlived the kill
    del ledger
