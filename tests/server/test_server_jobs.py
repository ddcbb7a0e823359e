"""Long jobs: handles within a tiny wait budget, nemo_wait, cancelling renders (from the client
and by tool), and a restarted server resuming a render without submitting it again."""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import mcp.types as types
import pytest
from mcp import Client
from nemo_server_helpers import Folders, check_mp4, eventually, next_tools

from nemo_mcp.config import Settings
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.mcp.server import build_server
from nemo_mcp.store.sqlite import SQLiteStore
from support.emulator import MUSIC_VIDEO, fast_studio, render_submits, requests_to, run_sse_posts
from support.results import ToolClient

pytestmark = pytest.mark.anyio


async def _ready_timeline(mcp: ToolClient, folders: Folders) -> str:
    up = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    return str(up.data["session_id"])


def _mp4s(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mp4")) if folder.exists() else []


async def test_chat_returns_a_handle_and_nemo_wait_gets_the_reply(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    emu.set_config(generation_seconds=1.0)
    chat = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 0})
    turn_id = chat.data["turn_id"]
    assert chat.data["done"] is False and chat.data["status"] == "running", chat.text
    assert next_tools(chat) == ["nemo_wait()"]  # no id to copy: it waits for the latest job
    assert "not be resent" in chat.text

    # a second message while the first is running is refused, not queued or sent
    busy = await mcp.fail("nemo_chat", {"message": "make it louder"})
    assert busy.error["kind"] == "invalid_input" and turn_id in busy.text
    assert "`nemo_wait()`" in busy.text and "nemo-mcp" not in busy.text
    still = await mcp.ok("nemo_wait", {"wait_seconds": 0})
    assert still.data["job_id"] == turn_id and still.data["done"] is False
    assert next_tools(still) == ["nemo_wait()"]

    # the job goes on without anyone waiting: the emulator finishes the turn by itself
    await eventually(lambda: bool(emu.session(chat.data["session_id"])["draft"]), timeout=20)

    waited = await mcp.ok("nemo_wait", {"job_id": turn_id, "wait_seconds": 30})
    assert waited.data["done"] is True and waited.data["kind"] == "turn"
    assert waited.data["turn"]["status"] == "replied" and waited.data["turn"]["changes"]
    assert next_tools(waited)[0] == "nemo_export()"
    assert run_sse_posts(emu) == 1


async def test_export_returns_a_handle_and_downloads_by_itself(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    await _ready_timeline(mcp, folders)
    emu.set_config(render_pending_seconds=1.0)
    export = await mcp.ok("nemo_export", {"wait_seconds": 0})
    render_id = export.data["render_id"]
    assert export.data["done"] is False
    assert export.data["status"] in ("submitting", "pending", "processing")
    assert next_tools(export) == ["nemo_wait()"]
    assert "goes on by itself" in export.text
    # no file yet, but a link to the render's status resource
    links = [c for c in export.result.content if isinstance(c, types.ResourceLink)]
    assert [str(link.uri) for link in links] == [f"nemo://renders/{render_id}"]

    pending = await mcp.ok("nemo_wait", {"wait_seconds": 0})
    assert pending.data["job_id"] == render_id and pending.data["done"] is False
    assert next_tools(pending) == ["nemo_wait()"]

    # nobody waits, yet the render is polled and the MP4 downloaded
    await eventually(lambda: len(_mp4s(folders.out)) == 1, timeout=30)

    waited = await mcp.ok("nemo_wait", {"job_id": render_id})
    assert waited.data["done"] is True and waited.data["kind"] == "render"
    render = waited.data["render"]
    assert render["status"] == "downloaded"
    assert Path(render["file"]) == _mp4s(folders.out)[0]
    check_mp4(Path(render["file"]))
    kinds = [c.type for c in waited.result.content]
    assert kinds.count("resource_link") == 3 and kinds.count("image") == 2
    assert render_submits(emu) == 1


async def test_wait_budget_from_the_environment(
    emu: EmulatorServer, folders: Folders, mode: str
) -> None:
    """NEMO_MCP_WAIT_SECONDS=0: every long call answers with a handle at once."""
    settings = Settings.from_env(folders.env(emu.url, NEMO_MCP_WAIT_SECONDS="0"))
    assert settings.wait_budget == 0
    server = build_server(settings, studio_factory=fast_studio)
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        mcp = ToolClient(client)
        await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
        chat = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
        assert chat.data["done"] is False
        done = await mcp.ok("nemo_wait", {"job_id": chat.data["turn_id"], "wait_seconds": 30})
        assert done.data["done"] is True
        export = await mcp.ok("nemo_export")
        assert export.data["done"] is False
        finished = await mcp.ok(
            "nemo_wait", {"job_id": export.data["render_id"], "wait_seconds": 60}
        )
        assert finished.data["render"]["status"] == "downloaded"


async def test_client_cancel_cancels_the_render(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders, settings: Settings
) -> None:
    await _ready_timeline(mcp, folders)
    emu.set_config(render_slowdown=2.0)  # a slow render: minutes for the whole video
    rendering = anyio.Event()
    notes: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message or "")
        if message and "processing" in message:
            rendering.set()

    async def export() -> None:
        await mcp.client.call_tool(
            "nemo_export", {"wait_seconds": 120}, progress_callback=on_progress
        )
        raise AssertionError("the export call was expected to be cancelled")

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(export)
            await rendering.wait()
            tg.cancel_scope.cancel()

    [render] = list(emu.state.renders.values())
    await eventually(lambda: requests_to(emu, "render_cancel", "POST") == 1)
    await eventually(lambda: emu.render(render.render_id).status == "cancelled")  # type: ignore[union-attr]
    with SQLiteStore(settings.state_db) as store:
        rec = store.get_render(render.render_id)
        assert rec is not None
        await eventually(lambda: store.get_render(render.render_id).status == "cancelled")  # type: ignore[union-attr]
    assert render_submits(emu) == 1
    assert _mp4s(folders.out) == []

    # the server still answers, and reports the render as cancelled
    waited = await mcp.ok("nemo_wait", {"job_id": render.render_id})
    assert waited.data["render"]["status"] == "cancelled" and waited.data["done"] is True
    assert "nemo_export()" in next_tools(waited)


async def test_cancel_render_tool(mcp: ToolClient, emu: EmulatorServer, folders: Folders) -> None:
    await _ready_timeline(mcp, folders)
    emu.set_config(render_slowdown=2.0)
    export = await mcp.ok("nemo_export", {"wait_seconds": 0})
    render_id = export.data["render_id"]
    await eventually(lambda: emu.render(render_id) is not None)

    cancelled = await mcp.ok("nemo_cancel_render", {"render_id": render_id})
    assert cancelled.data["status"] == "cancelled" and cancelled.data["done"] is True
    assert "cancelled" in cancelled.text
    assert "nemo_export()" in next_tools(cancelled)
    assert requests_to(emu, "render_cancel", "POST") == 1
    await eventually(lambda: emu.render(render_id).status == "cancelled")  # type: ignore[union-attr]

    # cancelling again is harmless (idempotent) and sends nothing more
    again = await mcp.ok("nemo_cancel_render", {"render_id": render_id})
    assert again.data["status"] == "cancelled"
    assert requests_to(emu, "render_cancel", "POST") == 1

    waited = await mcp.ok("nemo_wait", {"job_id": render_id})
    assert waited.data["render"]["status"] == "cancelled" and "file" not in waited.data["render"]
    assert _mp4s(folders.out) == []

    unknown = await mcp.fail("nemo_cancel_render", {"render_id": "render_123_abcdef"})
    assert unknown.error["kind"] == "invalid_input"


async def test_restarted_server_resumes_the_render(
    emu: EmulatorServer, folders: Folders, settings: Settings, mode: str
) -> None:
    """The first server stops while rendering; a second one on the same state folder finishes
    the job: polled to completion and downloaded, never submitted twice."""
    async with Client(build_server(settings, studio_factory=fast_studio), mode=mode) as first:  # type: ignore[arg-type]
        mcp = ToolClient(first)
        await _ready_timeline(mcp, folders)
        emu.set_config(render_pending_seconds=1.5)
        export = await mcp.ok("nemo_export", {"wait_seconds": 0})
        render_id = export.data["render_id"]
        assert export.data["done"] is False
        await eventually(lambda: emu.render(render_id) is not None)
    assert emu.render(render_id).status in ("pending", "processing")  # type: ignore[union-attr]
    assert _mp4s(folders.out) == []

    async with Client(build_server(settings, studio_factory=fast_studio), mode=mode) as second:  # type: ignore[arg-type]
        mcp = ToolClient(second)
        waited = await mcp.ok("nemo_wait", {"job_id": render_id, "wait_seconds": 60})
        assert waited.data["done"] is True, waited.text
        render = waited.data["render"]
        assert render["status"] == "downloaded"
        check_mp4(Path(render["file"]))
    assert render_submits(emu) == 1
    assert len(emu.state.renders) == 1
    assert len(_mp4s(folders.out)) == 1
    with SQLiteStore(settings.state_db) as store:
        assert [r.status for r in store.list_renders()] == ["downloaded"]
        assert store.list_renders(unfinished_only=True) == []


async def test_restart_resumes_without_being_asked(
    emu: EmulatorServer, folders: Folders, settings: Settings
) -> None:
    """The resume happens at startup: the download lands without any call to nemo_wait."""
    async with Client(build_server(settings, studio_factory=fast_studio), mode="legacy") as first:
        mcp = ToolClient(first)
        await _ready_timeline(mcp, folders)
        emu.set_config(render_pending_seconds=1.0)
        export = await mcp.ok("nemo_export", {"wait_seconds": 0})
        render_id = export.data["render_id"]
        await eventually(lambda: emu.render(render_id) is not None)
    async with Client(build_server(settings, studio_factory=fast_studio), mode="legacy") as second:
        await second.list_tools()
        await eventually(lambda: len(_mp4s(folders.out)) == 1, timeout=30)
        check_mp4(_mp4s(folders.out)[0])
    assert render_submits(emu) == 1


async def test_cancel_during_a_slow_submit_leaves_no_orphan(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    """A cancel that arrives while the submit is on its way waits for NemoVideo's answer, so
    the render it started is cancelled too, instead of rendering unseen."""
    await _ready_timeline(mcp, folders)
    emu.set_config(render_slowdown=2.0)
    emu.set_faults("render_submit:delay=0.8:times=1")
    export = await mcp.ok("nemo_export", {"wait_seconds": 0})
    render_id = export.data["render_id"]
    assert export.data["status"] == "submitting"
    cancelled = await mcp.ok("nemo_cancel_render", {"render_id": render_id})
    assert cancelled.data["status"] == "cancelled"
    assert render_submits(emu) == 1
    await eventually(lambda: emu.render(render_id) is not None)
    await eventually(lambda: emu.render(render_id).status == "cancelled")  # type: ignore[union-attr]


async def test_wait_without_a_job_id_takes_the_latest_and_says_when_there_is_none(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    nothing = await mcp.fail("nemo_wait", {})
    assert nothing.error["kind"] == "invalid_input"
    assert "nothing" in nothing.text.lower() or "no chat or export" in nothing.text
    assert "`nemo_chat(" in nothing.text and "nemo-mcp" not in nothing.text
    await _ready_timeline(mcp, folders)
    turn = await mcp.ok("nemo_wait", {})  # nothing running: the latest job, the chat turn
    assert turn.data["kind"] == "turn" and turn.data["done"] is True
    emu.set_config(render_pending_seconds=1.0)
    export = await mcp.ok("nemo_export", {"wait_seconds": 0})
    render = await mcp.ok("nemo_wait", {"wait_seconds": 30})  # the render, still running
    assert render.data["job_id"] == export.data["render_id"] and render.data["done"] is True
    assert "Exported and downloaded" in render.text


async def test_progress_without_numbers_still_rises_in_clean_steps() -> None:
    """Notes without numbers move the bar by 0.01 each: values a person can read, always rising."""
    from typing import Any, cast

    from nemo_mcp.mcp.context import ProgressRelay
    from nemo_mcp.studio.views import Progress

    sent: list[float] = []

    class Ctx:
        async def report_progress(self, value: float, total: Any, message: Any) -> None:
            sent.append(value)

    relay = ProgressRelay(cast(Any, Ctx()))
    await relay(Progress(message="rendering", progress=55.0, total=100.0))
    for _ in range(30):
        await relay(Progress(message="still rendering"))
    assert sent[0] == 55.0 and all(b > a for a, b in itertools.pairwise(sent))
    assert sent[-1] == 55.3 and all(v == round(v, 2) for v in sent), sent
