"""One hosted worker as users and operators meet it: a bearer is required (401 with
WWW-Authenticate and the RFC 9728 metadata), a NemoVideo token is checked once, a whole workflow
with a URL upload ends with the video's URL (no file on the server), and /healthz, /readyz,
/metrics answer."""

from __future__ import annotations

import base64
from pathlib import Path

import anyio
import httpx
import mcp.types as types
import pytest
from workers import Cluster, cluster, user_client, user_token

from nemo_mcp.emulator import EmulatorServer
from support.emulator import MUSIC_VIDEO, render_submits, requests_to
from support.processes import ACCEPT, INITIALIZE, post_initialize
from support.results import ToolClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def one(root: Path, emu: EmulatorServer) -> Cluster:
    with cluster(root, emu) as group:
        group.start("w1")
        yield group  # type: ignore[misc]


def test_a_request_without_a_good_bearer_is_refused_with_the_metadata(one: Cluster) -> None:
    worker = one.workers[0]
    bare = post_initialize(worker.url)
    assert bare.status_code == 401
    challenge = bare.headers["www-authenticate"]
    assert challenge.lower().startswith("bearer") and "resource_metadata=" in challenge
    meta_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    meta = httpx.get(meta_url, timeout=10, trust_env=False)
    assert meta.status_code == 200, meta.text
    assert meta.json()["resource"].rstrip("/") == worker.url
    assert meta.json()["authorization_servers"]
    wrong = post_initialize(worker.url, {"Authorization": "Bearer nmv_usr_not_a_real_token_000"})
    assert wrong.status_code == 401
    assert "nmv_usr_not_a_real_token_000" not in one.logs()


async def test_a_user_makes_a_video_and_gets_its_url(
    one: Cluster, emu: EmulatorServer, media: str
) -> None:
    worker = one.workers[0]
    token = user_token(emu)
    checks_before = requests_to(emu, "credits")
    async with user_client(worker.url, token) as client:
        mcp = ToolClient(client)
        await mcp.load_schemas()
        new = await mcp.ok("nemo_new_session", {"title": "hosted"})
        sid = new.data["session_id"]
        local = await mcp.call("nemo_upload", {"items": ["/etc/hostname"], "session_id": sid})
        assert local.is_error and "cannot read files from your computer" in local.text
        up = await mcp.ok("nemo_upload", {"items": [f"{media}/song.mp3"], "session_id": sid})
        assert up.data["session_id"] == sid
        chat = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO, "session_id": sid})
        assert chat.data["status"] == "replied", chat.text
        export = await mcp.ok("nemo_export", {"session_id": sid})
        assert export.data["status"] == "completed", export.text
        assert export.data["url"].startswith("http") and not export.data.get("file")
        links = [c for c in export.result.content if isinstance(c, types.ResourceLink)]
        assert str(links[0].uri) == export.data["url"]  # the video, by its URL
        rid = export.data["render_id"]
        assert [str(link.uri) for link in links[1:]] == [
            f"nemo://renders/{rid}/storyboard.png",
            f"nemo://renders/{rid}",
        ]
        images = [c for c in export.result.content if isinstance(c, types.ImageContent)]
        assert [i.mime_type for i in images] == ["image/jpeg", "image/png"]  # poster, storyboard
        assert base64.b64decode(images[0].data)[:2] == b"\xff\xd8"
        board = base64.b64decode(images[1].data)
        _is_a_storyboard(board, one.root / "hosted-storyboard.png")
        # the storyboard resource, drawn from the URL too (made once: the same sheet)
        read = await client.read_resource(f"nemo://renders/{rid}/storyboard.png")
        blob = read.contents[0]
        assert isinstance(blob, types.BlobResourceContents) and blob.mime_type == "image/png"
        assert base64.b64decode(blob.blob) == board
        # the bearer was checked with NemoVideo once: more requests do not check it again
        checks = requests_to(emu, "credits")
        for _ in range(5):
            await client.list_tools()
        assert requests_to(emu, "credits") == checks > checks_before
    assert render_submits(emu) >= 1
    assert token not in one.logs()
    assert not (one.root / "home").exists()  # nothing on the server's disk


def _is_a_storyboard(png: bytes, keep: Path) -> None:
    """A PNG contact sheet of several distinct, non-black frames (kept in ``keep`` to look at)."""
    import io

    from PIL import Image, ImageStat

    keep.write_bytes(png)
    sheet = Image.open(io.BytesIO(png))
    assert sheet.format == "PNG" and sheet.width > 400 and sheet.height > 150
    luma = ImageStat.Stat(sheet.convert("L"))
    assert luma.mean[0] > 20 and luma.stddev[0] > 10  # pictures, not a dark empty sheet


async def test_handshake_era_users_each_reach_their_own_studio(
    one: Cluster, emu: EmulatorServer
) -> None:
    """Two users whose clients speak the handshake era (each request served as one exchange),
    calls interleaved: each call runs as its own user."""
    url = one.workers[0].url
    async with (
        user_client(url, user_token(emu), mode="legacy") as alice,
        user_client(url, user_token(emu), mode="legacy") as bob,
    ):
        assert alice.protocol_version == "2025-11-25"
        a, b = ToolClient(alice), ToolClient(bob)
        sid_a = (await a.ok("nemo_new_session", {"title": "alice"})).data["session_id"]
        sid_b = (await b.ok("nemo_new_session", {"title": "bob"})).data["session_id"]
        assert sid_a != sid_b
        for _ in range(2):
            assert (await a.ok("nemo_get_state", {})).data["session_id"] == sid_a
            assert (await b.ok("nemo_get_state", {})).data["session_id"] == sid_b
        foreign = await a.call("nemo_get_state", {"session_id": sid_b})
        assert foreign.is_error, foreign.text


def test_operations_endpoints(one: Cluster) -> None:
    base = one.workers[0].base
    assert httpx.get(base + "/healthz", timeout=10, trust_env=False).json() == {"status": "ok"}
    ready = httpx.get(base + "/readyz", timeout=10, trust_env=False)
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    metrics = httpx.get(base + "/metrics", timeout=10, trust_env=False)
    assert metrics.status_code == 200
    assert "nemo_mcp_tool_calls" in metrics.text and "nemo_mcp_jobs" in metrics.text


async def test_a_local_file_goes_up_through_a_signed_link(
    one: Cluster, emu: EmulatorServer, media: str
) -> None:
    worker = one.workers[0]
    async with httpx.AsyncClient(trust_env=False) as http:
        song = (await http.get(f"{media}/song.mp3")).content
        async with user_client(worker.url, user_token(emu)) as client:
            mcp = ToolClient(client)
            await mcp.load_schemas()
            refused = await mcp.call("nemo_upload_link", {"filename": "notes.txt"})
            assert refused.is_error
            link = await mcp.ok("nemo_upload_link", {"filename": "song.mp3"})
            url, sid = link.data["upload_url"], link.data["session_id"]
            assert link.data["method"] == "PUT" and url.startswith(worker.base + "/uploads/")
            fake = await http.put(url, content=b"this is not audio" * 100)
            assert fake.status_code == 400 and "not MP3" in fake.text
            forged = await http.put(url[:-3] + "AAA", content=song)
            assert forged.status_code == 400
            put = await http.put(url, content=song)
            assert put.status_code == 200, put.text
            assert put.json() == {"uploaded": "song.mp3", "session_id": sid, "files": 1}
            again = await http.put(url, content=song)
            assert again.status_code == 400 and "used already" in again.text
            state = await mcp.ok("nemo_get_state", {"session_id": sid})
            assert "song.mp3" in state.text


async def test_an_idle_users_studio_is_closed_and_reopened(root: Path, emu: EmulatorServer) -> None:
    with cluster(root, emu, NEMO_MCP_IDLE_SECONDS="0.5") as group:
        worker = group.start("w1")
        token = user_token(emu)
        async with user_client(worker.url, token) as client:
            mcp = ToolClient(client)
            await mcp.load_schemas()
            first = await mcp.ok("nemo_new_session", {"title": "before"})
            with anyio.fail_after(20):
                while "closed 1 idle studio(s)" not in worker.log.read_text():  # noqa: ASYNC110
                    await anyio.sleep(0.2)
            listed = await mcp.ok("nemo_list_sessions", {})  # opens it again, state kept
            assert listed.data["current_session_id"] == first.data["session_id"]


async def test_a_known_token_keeps_working_while_nemovideo_is_unreachable(
    root: Path, emu: EmulatorServer
) -> None:
    with cluster(root, emu) as group:
        w1, w2 = group.start("w1"), group.start("w2")
        token = user_token(emu)
        async with user_client(w1.url, token) as client:  # accepted once, on w1
            await ToolClient(client).ok("nemo_new_session", {"title": "before the outage"})
        emu.set_faults("credits:reset")  # checking a token with NemoVideo now fails
        try:
            async with user_client(w2.url, token) as client:  # w2 never saw it: the database did
                listed = await ToolClient(client).ok("nemo_list_sessions", {})
                assert len(listed.data["sessions"]) == 1
            async with httpx.AsyncClient(trust_env=False) as http:
                unknown = await http.post(
                    w2.url,
                    json=INITIALIZE,
                    headers={**ACCEPT, "Authorization": f"Bearer {user_token(emu)}"},
                )
            assert unknown.status_code == 401  # a new token cannot be checked now
        finally:
            emu.clear_faults()
