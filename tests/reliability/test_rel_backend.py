"""A hostile backend and CDN on loopback: oversized, endless and deep answers, render links
into the local network, and a backend that echoes the token.

Memory is measured in a fresh process (``hostile_child.py``) fed each hostile answer, next to the
same process fed a normal one; the peaks go into the suite's report. Every case ends in a clear
error that says what happened, within the size, depth, attempt and time bounds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile import (
    MB,
    Answer,
    HostileServer,
    Request,
    Route,
    deep_json,
    envelope,
    huge_json,
)
from mcp import Client
from rel_helpers import SENTINEL_TOKEN, Rig, partial_files

from nemo_mcp import constants
from nemo_mcp.api import netguard
from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.errors import DownloadError
from nemo_mcp.store.records import RenderRecord, SessionRecord
from nemo_mcp.store.sqlite import SQLiteStore
from support.processes import clean_env
from support.results import ToolClient, assert_actionable

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("hostile_child.py")
SID = "1"
SMALL_STATE = {"session_id": SID, "task_id": "task_1", "state": {"draft": None}}


def api_routes(state: Route, **more: Route) -> dict[str, Route]:
    """Just enough of the API: a session, credits, the state (hostile or not), and more."""
    return {
        "POST /api/tasks/me/with-session/": lambda r: envelope(
            {"session_id": SID, "task_id": "task_1"}
        ),
        "GET /api/credits/balance/simple": lambda r: envelope(
            {"available": 100, "frozen": 0, "total": 100}
        ),
        "GET /api/state/": state,
        **more,
    }


def small_state(request: Request) -> Answer:
    return envelope(SMALL_STATE)


def streamed(body: Callable[[], Iterator[bytes]], length: int | None = None) -> Route:
    """A JSON answer whose body ``body()`` makes afresh for every request."""

    def route(request: Request) -> Answer:
        return Answer(200, {"content-type": "application/json"}, body(), length)

    return route


@asynccontextmanager
async def tools_on(rig: Rig, server: HostileServer) -> AsyncIterator[ToolClient]:
    env = {
        "NEMO_API_URL": server.url,
        "NEMO_WEB_URL": server.url,
        "NEMO_TOKEN": SENTINEL_TOKEN,
        "NEMO_MCP_HOME": str(rig.home),
        "NEMO_MCP_OUTPUT_DIR": str(rig.out),
        "NEMO_MCP_ALLOWED_DIRS": str(rig.media_dir),
    }
    async with Client(rig.server(Settings.from_env(env))) as client:  # type: ignore[arg-type]
        yield rig.ledger.watch(client)


def seed(home: Path, api: str, render_url: str | None = None) -> None:
    """A current session (and a finished render waiting for its download) in the store."""
    with SQLiteStore(home) as store:
        store.save_session(
            SessionRecord(
                session_id=SID, task_id="task_1", api_url=api, language="en", title=None,
                user_id=None, created_at=time.time(),
            )
        )  # fmt: skip
        store.set_current_session(api, SID)
        if render_url:
            store.save_render(
                RenderRecord(
                    render_id="render_1", session_id=SID, api_url=api, status="completed",
                    progress=100.0, url=render_url, filename="hostile.mp4",
                )
            )  # fmt: skip


def child(rig: Rig, name: str, scenario: str, api: str, *extra: str) -> dict[str, Any]:
    """Run one operation in a fresh process; keep its peak memory in the ledger."""
    done = subprocess.run(
        [sys.executable, str(CHILD), scenario, api, str(rig.home), str(rig.out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    rig.ledger.keep(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    rig.ledger.peak_rss_kb[name] = max(rig.ledger.peak_rss_kb.get(name, 0), result["peak_rss_kb"])
    rig.ledger.measurements[name] = {
        "peak_rss_mb": round(result["peak_rss_kb"] / 1024, 1),
        "elapsed_s": result["elapsed_s"],
        "error": (result["error"] or {}).get("message"),
    }
    return result


def db_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.glob("state.db*"))


# ------------------------------------------------------------------ oversized and deep answers
async def test_a_600_mb_state_is_an_error_after_8_mb(rig: Rig) -> None:
    with HostileServer(api_routes(streamed(lambda: huge_json(600 * MB)))) as server:
        async with tools_on(rig, server) as tools:
            await tools.ok("nemo_new_session")
            res = await tools.fail("nemo_get_state")
        sent = server.bytes_sent
    err = assert_actionable(res, "answer_too_large")
    assert "8 MB" in err["message"], err
    assert sent < 100 * MB, sent  # the server could not push much before we hung up
    assert db_bytes(rig.home) < 1 * MB


async def test_an_announced_600_mb_state_is_not_read_at_all(rig: Rig) -> None:
    with HostileServer(api_routes(streamed(lambda: huge_json(600 * MB), 600 * MB))) as server:
        async with tools_on(rig, server) as tools:
            await tools.ok("nemo_new_session")
            res = await tools.fail("nemo_get_state")
    err = assert_actionable(res, "answer_too_large")
    assert "announced an answer of 600 MB" in err["message"], err


async def test_a_200k_deep_state_is_a_clear_error_not_a_recursion_error(rig: Rig) -> None:
    with HostileServer(api_routes(streamed(lambda: deep_json(200_000)))) as server:
        async with tools_on(rig, server) as tools:
            await tools.ok("nemo_new_session")
            res = await tools.fail("nemo_get_state")
            again = await tools.fail("nemo_get_state")  # still a clear error
            await tools.ok("nemo_get_credits")  # and the server keeps working
    for r in (res, again):
        err = assert_actionable(r, "answer_too_large")
        assert "nested more than 64 levels" in err["message"], err
        assert "Error executing tool" not in r.text


def test_the_stored_state_keeps_only_what_is_needed(tmp_path: Path) -> None:
    """A large state (under the answer cap) is stored as its draft only; too large even so,
    the previous state is kept."""
    with SQLiteStore(tmp_path) as store:
        store.save_session(
            SessionRecord(
                session_id=SID, task_id=None, api_url="http://x", language="en", title=None,
                user_id=None, created_at=1.0,
            )
        )  # fmt: skip
        draft = {"t": [{"tt": 0, "sg": [{"d": 1000}]}]}
        big = {"session_id": SID, "state": {"draft": draft, "junk": "J" * (6 * MB)}}
        store.update_session_state(SID, big)
        kept = store.get_session(SID)
        assert kept is not None and kept.last_state is not None
        assert (
            len(kept.last_state) < 1024 and json.loads(kept.last_state)["state"]["draft"] == draft
        )
        store.update_session_state(SID, {"state": {"draft": {"x": "D" * (6 * MB)}}})
        again = store.get_session(SID)
        assert again is not None and again.last_state == kept.last_state
    assert sum(p.stat().st_size for p in tmp_path.glob("state.db*")) < 2 * MB


# ------------------------------------------------------------------ memory, in a fresh process
@pytest.mark.slow
def test_memory_stays_bounded_against_oversized_and_deep_answers(rig: Rig) -> None:
    results = {}
    for name, route in (
        ("baseline", small_state),
        ("state: 600 MB JSON", streamed(lambda: huge_json(600 * MB))),
        ("state: 200k-deep JSON", streamed(lambda: deep_json(200_000))),
    ):
        with HostileServer(api_routes(route)) as server:
            seed(rig.home, server.url)
            results[name] = child(rig, name, "state", server.url)
    assert results["baseline"]["error"] is None
    base = results["baseline"]["peak_rss_kb"]
    for name in ("state: 600 MB JSON", "state: 200k-deep JSON"):
        assert results[name]["error"]["kind"] == "answer_too_large", results[name]
        assert results[name]["peak_rss_kb"] < base + 64 * 1024, (name, results[name], base)
    assert db_bytes(rig.home) < 1 * MB


def render_route(
    announce: int | None, send: int, *, drop: bool = True, trickle: bool = False
) -> Route:
    """A render download that announces ``announce`` bytes, sends ``send`` (forever if 0) and
    drops; it ignores ``Range`` (always 200 from the start)."""

    def body() -> Iterator[bytes]:
        block = b"\x00" * (64 * 1024)
        sent = 0
        while send == 0 or sent < send:
            yield block
            sent += len(block)
            if trickle:
                time.sleep(0.05)

    def route(request: Request) -> Answer:
        return Answer(200, {"content-type": "video/mp4"}, body(), announce, drop=drop)

    return route


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "route", "extra", "expect", "attempts"),
    [
        ("download: announces 10 GiB, sends 5 MB, drops", render_route(10 * 1024**3, 5 * MB),
         (), "more than the 4.0 GB", 1),
        ("download: announces 100 MB, sends 5 MB, drops, ignores Range",
         render_route(100 * MB, 5 * MB), (), "kept failing", constants.DOWNLOAD_MAX_RESUMES + 1),
        ("download: endless trickle", render_route(None, 0, drop=False, trickle=True),
         ("--deadline", "3"), "did not finish within 3 s", 1),
        ("download: endless stream", render_route(None, 0, drop=False),
         ("--cap", str(64 * MB)), "sent more than the 64 MB", 1),
    ],
)  # fmt: skip
def test_downloads_are_bounded(
    rig: Rig, name: str, route: Route, extra: tuple[str, ...], expect: str, attempts: int
) -> None:
    """Resumed at start-up (the render was finished, its download not), then bounded: size
    announced or sent, failures that do not reset while nothing new arrives, and time."""
    with HostileServer(api_routes(small_state, **{"GET /render.mp4": route})) as server:
        seed(rig.home, server.url, server.url + "/render.mp4")
        result = child(rig, name, "wait", server.url, "render_1", *extra)
        hits = len(server.hits("/render.mp4"))
    assert result["error"] is not None and expect in result["error"]["message"], result
    assert result["error"]["hint"], result
    assert hits == attempts, hits
    assert result["elapsed_s"] < 30, result
    assert partial_files(rig.out) == [] and not list(rig.out.glob("*"))


# ------------------------------------------------------------------------- render links (SSRF)
def public_api(tmp_path: Path, **kwargs: Any) -> NemoClient:
    """A client whose API is a public host (it does not resolve here, so it is not local)."""
    settings = Settings(
        api_url="https://api.nemovideo.invalid",
        token=SENTINEL_TOKEN,
        home=tmp_path / "state",
        output_dir=tmp_path / "out",
        allowed_dirs=(tmp_path,),
    )
    return NemoClient(settings, store=SQLiteStore(tmp_path / "state"), **kwargs)


def ok_file(request: Request) -> Answer:
    data = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1000
    return Answer(200, {"content-type": "video/mp4"}, [data], len(data))


async def test_render_links_to_local_addresses_are_refused_when_the_api_is_public(
    tmp_path: Path,
) -> None:
    with HostileServer({"GET /": ok_file}) as server:
        port = server.port
        links = [
            f"http://127.0.0.1:{port}/render.mp4",
            f"http://localhost:{port}/render.mp4",
            f"http://[::ffff:127.0.0.1]:{port}/render.mp4",
            "http://169.254.169.254/latest/meta-data/render.mp4",
            "http://10.0.0.1/render.mp4",
            "http://127.0.0.1:22/",
        ]
        async with public_api(tmp_path) as client:
            for link in links:
                started = time.monotonic()
                with pytest.raises(DownloadError) as info:
                    await client.download(link, tmp_path / "out" / "v.mp4")
                assert time.monotonic() - started < 2, link  # refused at once, no retries
                message = str(info.value)
                assert "address; it was not fetched" in message, message
                assert any(k in message for k in ("loopback", "link-local", "private")), message
                assert "public hosts" in message
        assert server.hits() == []
    assert not (tmp_path / "out" / "v.mp4").exists()


async def test_every_redirect_hop_is_checked(tmp_path: Path) -> None:
    with HostileServer({"GET /": ok_file}) as server:
        seen: list[str] = []

        def cdn(request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            return httpx.Response(302, headers={"location": f"{server.url}/render.mp4"})

        async with public_api(tmp_path, transport=httpx.MockTransport(cdn)) as client:
            with pytest.raises(DownloadError, match=r"127\.0\.0\.1, a loopback address"):
                await client.download("http://cdn.example.com/r.mp4", tmp_path / "v.mp4")
        assert seen == ["http://cdn.example.com/r.mp4"]
        assert server.hits() == []


async def test_a_name_resolving_elsewhere_when_connecting_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the check saw a public address, the connection reached loopback. The
    address actually reached is checked before a byte of the body is read."""

    async def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    monkeypatch.setattr(netguard, "resolve", rebinding)
    with HostileServer({"GET /": ok_file}) as server:
        async with public_api(tmp_path) as client:
            with pytest.raises(DownloadError, match="a loopback address"):
                await client.download(
                    f"http://localhost:{server.port}/render.mp4", tmp_path / "v.mp4"
                )
    assert not (tmp_path / "v.mp4").exists() and not list(tmp_path.glob("*.part"))


async def test_local_render_links_are_fine_when_the_api_is_local(tmp_path: Path) -> None:
    """The emulator case: the API itself is on loopback, so its render links may be too."""
    with HostileServer({"GET /": ok_file}) as server, SQLiteStore(tmp_path / "state") as store:
        settings = Settings(
            api_url="http://127.0.0.1:9", token=SENTINEL_TOKEN, home=tmp_path / "state",
            output_dir=tmp_path, allowed_dirs=(tmp_path,),
        )  # fmt: skip
        async with NemoClient(settings, store=store) as client:
            got = await client.download(f"{server.url}/render.mp4", tmp_path / "v.mp4")
    assert got.size > 1000


# ------------------------------------------------------------------------ a token echoed back
async def test_a_token_echoed_by_the_backend_is_never_stored(rig: Rig) -> None:
    def echo(request: Request) -> str:
        return (request.header("authorization") or "").removeprefix("Bearer ")

    def state(request: Request) -> Answer:
        return envelope({**SMALL_STATE, "title": f"owner {echo(request)}"})

    def chat(request: Request) -> Answer:
        text = f"Done. (your token is {echo(request)})"
        frame = {"content": {"parts": [{"text": text}], "role": "model"}}
        body = f"data: {json.dumps(frame)}\n\n".encode()
        return Answer(200, {"content-type": "text/event-stream"}, [body], len(body))

    with HostileServer(api_routes(state, **{"POST /run_sse": chat})) as server:
        async with tools_on(rig, server) as tools:
            await tools.ok("nemo_new_session")
            turn = await tools.ok("nemo_chat", {"message": "add a title", "wait_seconds": 20})
            await tools.ok("nemo_get_state")
        echoed = [r for r in server.hits("/run_sse") if echo(r) == SENTINEL_TOKEN]
    assert echoed, "the backend did see the token (so it could echo it)"
    assert SENTINEL_TOKEN not in turn.text
    for path in rig.home.glob("state.db*"):
        assert SENTINEL_TOKEN.encode() not in path.read_bytes(), path.name
    with SQLiteStore(rig.home) as store:
        turns = store.list_turns()
        assert turns and turns[0].result_json and "[redacted]" in turns[0].result_json
