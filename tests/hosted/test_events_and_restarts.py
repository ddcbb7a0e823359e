"""Resource updates cross workers through Redis (the SDK's subscription-bus seam), and nothing
depends on it: with Redis unreachable, and with PostgreSQL restarted while a render is being
polled, a hosted worker still finishes the work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from mcp.shared.subscriptions import ResourceUpdated
from workers import cluster, user_client, user_token

from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.hosted.events import RedisSubscriptionBus
from support.emulator import MUSIC_VIDEO, fast
from support.postgres import restart_postgres, unavailable
from support.results import ToolClient

pytestmark = pytest.mark.anyio

REDIS = "redis://127.0.0.1:6379/0"
NO_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_up() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError:
        unavailable("no Redis server at 127.0.0.1:6379")


async def _until(check: Callable[[], bool], seconds: float = 10) -> None:
    with anyio.fail_after(seconds):
        while not check():  # noqa: ASYNC110 - the bus has no event to wait on
            await anyio.sleep(0.02)


async def test_an_update_published_on_one_worker_reaches_listeners_on_another(
    redis_up: None,
) -> None:
    one, two = RedisSubscriptionBus(REDIS), RedisSubscriptionBus(REDIS)
    heard_one: list[object] = []
    heard_two: list[object] = []
    one.subscribe(heard_one.append)
    two.subscribe(heard_two.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(one.run)
        tg.start_soon(two.run)
        await _until(lambda: one.connected and two.connected)
        await one.publish(ResourceUpdated(uri="nemo://renders/r1"))
        await _until(lambda: len(heard_two) == 1)
        assert heard_two == [ResourceUpdated(uri="nemo://renders/r1")]
        assert heard_one == [ResourceUpdated(uri="nemo://renders/r1")]  # once, not echoed back
        tg.cancel_scope.cancel()
    await one.aclose()
    await two.aclose()


async def test_without_redis_updates_still_reach_this_workers_listeners() -> None:
    bus = RedisSubscriptionBus(NO_REDIS)
    heard: list[object] = []
    bus.subscribe(heard.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(bus.run)  # keeps trying to connect, quietly
        await bus.publish(ResourceUpdated(uri="nemo://sessions/s/timeline"))
        assert heard == [ResourceUpdated(uri="nemo://sessions/s/timeline")]
        assert not bus.connected
        tg.cancel_scope.cancel()
    await bus.aclose()


@pytest.mark.slow
async def test_a_render_survives_a_postgres_restart_with_redis_down(root: Path, media: str) -> None:
    if not Path("/etc/postgresql").is_dir():
        pytest.skip("no local PostgreSQL cluster to restart")
    with (
        EmulatorServer(**fast(render_slowdown=0.6)) as emu,
        cluster(root, emu, NEMO_MCP_REDIS_URL=NO_REDIS) as group,
    ):
        worker = group.start("w1")
        async with user_client(worker.url, user_token(emu)) as client:
            mcp = ToolClient(client)
            await mcp.load_schemas()
            sid = (await mcp.ok("nemo_new_session", {})).data["session_id"]
            await mcp.ok("nemo_upload", {"items": [f"{media}/song.mp3"], "session_id": sid})
            await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO, "session_id": sid})
            started = await mcp.ok("nemo_export", {"session_id": sid, "wait_seconds": 0})
            rid = started.data["render_id"]
            restart_postgres()  # while the worker polls the render
            with anyio.fail_after(90):
                while True:
                    res = await mcp.call("nemo_wait", {"job_id": rid, "wait_seconds": 5})
                    if not res.is_error and res.data["render"]["status"] == "completed":
                        break
                    await anyio.sleep(0.5)  # an error while the database comes back is fine
            assert sum(1 for r in emu.state.renders.values() if r.session_id == sid) == 1
        assert "Redis is unreachable" in group.logs()


@pytest.mark.slow
async def test_a_listener_on_one_worker_hears_of_work_done_on_another(
    root: Path, media: str, redis_up: None
) -> None:
    with (
        # generations and renders long enough to be followed from another worker (a turn of
        # 2 s was once over before a loaded CI machine's other worker began to wait on it)
        EmulatorServer(**fast(render_slowdown=0.3, generation_seconds=4.0)) as emu,
        cluster(root, emu, NEMO_MCP_REDIS_URL=REDIS) as group,
    ):
        w1, w2 = group.start("w1"), group.start("w2")
        token = user_token(emu)
        async with user_client(w1.url, token) as c1, user_client(w2.url, token) as c2:
            one, two = ToolClient(c1), ToolClient(c2)
            await one.load_schemas()
            await two.load_schemas()
            sid = (await one.ok("nemo_new_session", {})).data["session_id"]
            await one.ok("nemo_upload", {"items": [f"{media}/song.mp3"], "session_id": sid})
            timeline = f"nemo://sessions/{sid}/timeline"
            async with c1.listen(resource_subscriptions=[timeline]) as events:
                await anyio.sleep(0.5)  # both workers listen on Redis by now
                chat = await two.ok(
                    "nemo_chat", {"message": MUSIC_VIDEO, "session_id": sid, "wait_seconds": 0}
                )
                # the turn runs on w2; waited for on w1, w2's own notes arrive there
                turn = await one.ok("nemo_wait", {"job_id": chat.data["turn_id"]})
                assert turn.data["turn"]["status"] == "replied", turn.text
                notes = [m or "" for _, _, m in turn.progress]
                assert notes and not all("another nemo-mcp process" in n for n in notes), notes
                with anyio.fail_after(20):
                    async for event in events:
                        if getattr(event, "uri", None) == timeline:
                            break
            started = await two.ok("nemo_export", {"session_id": sid, "wait_seconds": 0})
            render = f"nemo://renders/{started.data['render_id']}"
            async with c1.listen(resource_subscriptions=[render]) as events:
                with anyio.fail_after(60):
                    async for event in events:
                        if getattr(event, "uri", None) == render:
                            break
            status = await one.ok("nemo_wait", {"job_id": started.data["render_id"]})
            assert status.data["render"]["status"] == "completed"
            # a render polled by w2, waited for on w1: w2's own progress notes arrive there
            again = await two.ok(
                "nemo_export", {"session_id": sid, "wait_seconds": 0, "force": True}
            )
            waited = await one.ok("nemo_wait", {"job_id": again.data["render_id"]})
            assert waited.data["render"]["status"] == "completed", waited.text
            notes = [m or "" for _, _, m in waited.progress]
            assert any(n.startswith("rendering: ") for n in notes), notes


async def test_progress_notes_cross_workers_through_redis(redis_up: None) -> None:
    from nemo_mcp.studio.views import Progress

    one, two = RedisSubscriptionBus(REDIS), RedisSubscriptionBus(REDIS)
    async with anyio.create_task_group() as tg:
        tg.start_soon(one.run)
        tg.start_soon(two.run)
        await _until(lambda: one.connected and two.connected)
        got: list[Progress | None] = []

        async def follow() -> None:
            got.append(await two.next_note("render_1", 5))

        tg.start_soon(follow)
        await anyio.sleep(0.2)
        await one.publish_note("render_2", Progress(message="someone else's"))
        await one.publish_note("render_1", Progress(message="rendering: processing 40%"))
        await _until(lambda: bool(got))
        assert got == [Progress(message="rendering: processing 40%")]
        assert await two.next_note("render_1", 0.2) is None  # nothing more: None in time
        tg.cancel_scope.cancel()
    await one.aclose()
    await two.aclose()
