"""Exports that cannot be saved, ids that try to become other URLs, a read-only tool that must
stay read-only, downloads resumed at start-up, and ``serve --http --allow-remote`` reachable by
the names other machines really use.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import anyio
import httpx
import pytest
from rel_helpers import Rig, http_served, http_tools, store_renders, submitted_render_ids

from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.contract import paths
from nemo_mcp.errors import InvalidInputError
from nemo_mcp.files.outputs import NAME_MAX_BYTES
from nemo_mcp.mcp import hostrules
from nemo_mcp.store.sqlite import SQLiteStore
from support.emulator import MUSIC_VIDEO, requests_to
from support.processes import post_initialize
from support.results import ToolClient, assert_actionable

pytestmark = pytest.mark.anyio


async def make_video(tools: ToolClient, rig: Rig) -> str:
    up = await tools.ok("nemo_upload", {"items": [str(rig.song)]})
    turn = await tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
    assert turn.data["export_ready"], turn.text
    return str(up.data["session_id"])


# ------------------------------------------------------------------------------- file names
@pytest.mark.slow
async def test_names_the_file_system_would_refuse_still_export(rig: Rig) -> None:
    """80 four-byte characters (320 bytes), a folder named like the target, and a dangling
    symlink at the target: each export lands under a name that fits and is free."""
    rig.out.mkdir(parents=True, exist_ok=True)
    (rig.out / "clip.mp4").mkdir()
    (rig.out / "link.mp4").symlink_to(rig.root / "nowhere.mp4")
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        wide = "\U0002070e" * 80
        res = await tools.ok("nemo_export", {"filename": wide, "wait_seconds": 60})
        file = Path(res.data["file"])
        assert file.is_file() and file.name.startswith("\U0002070e")
        assert len(file.name.encode()) + len(".abcdefgh.part") <= NAME_MAX_BYTES
        for name in ("clip", "link"):
            # "overwrite" replaces a file of that name, never a folder or a symlink
            for overwrite, expected in ((False, f"{name} (2).mp4"), (True, f"{name} (3).mp4")):
                res = await tools.ok(
                    "nemo_export",
                    {"filename": name, "force": True, "overwrite": overwrite, "wait_seconds": 60},
                )
                assert Path(res.data["file"]).name == expected, res.text
    assert (rig.out / "clip.mp4").is_dir()
    assert (rig.out / "link.mp4").is_symlink() and not (rig.out / "link.mp4").exists()


@pytest.mark.slow
async def test_a_download_that_cannot_be_saved_fails_and_blocks_nothing(rig: Rig) -> None:
    """The output folder cannot be created (a file is in the way): the export is an error that
    says so, every wait says so again (never "downloads by itself"), and once the folder is
    fixed the same timeline exports without rendering again, under the name now asked for."""
    blocker = rig.root / "blocker"
    blocker.write_text("a file where the output folder should be\n")
    out = blocker / "exports"
    rig.outputs.append(out)
    emu = rig.emulator()
    async with rig.tools(emu, NEMO_MCP_OUTPUT_DIR=str(out)) as tools:
        await make_video(tools, rig)
        res = await tools.fail("nemo_export", {"wait_seconds": 60})
        err = assert_actionable(res, "config")
        assert "output folder" in err["message"] and "NEMO_MCP_OUTPUT_DIR" in err["hint"]
        render_id = submitted_render_ids(emu)[0]
        again = await tools.fail("nemo_wait", {"job_id": render_id, "wait_seconds": 30})
        assert_actionable(again, "config")
        assert "downloads by itself" not in again.text
        blocker.unlink()
        done = await tools.ok("nemo_export", {"filename": "after the fix", "wait_seconds": 60})
        assert done.data["status"] == "downloaded", done.text
        assert Path(done.data["file"]) == out / "after the fix.mp4"
    assert submitted_render_ids(emu) == [render_id]
    assert store_renders(rig.home) == {render_id: "downloaded"}


async def test_an_interrupted_download_resumes_when_the_server_starts(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await make_video(tools, rig)
        emu.set_faults("cdn:500")
        res = await tools.fail("nemo_export", {"wait_seconds": 60})
        assert_actionable(res, "download")
    render_id = submitted_render_ids(emu)[0]
    assert store_renders(rig.home) == {render_id: "completed"}  # rendered, not downloaded
    emu.clear_faults()
    async with rig.tools(emu):  # a new server; no call is made
        with anyio.fail_after(30):
            while store_renders(rig.home)[render_id] != "downloaded":  # noqa: ASYNC110
                await anyio.sleep(0.05)
    assert len(list(rig.out.glob("*.mp4"))) == 1


# ------------------------------------------------------------------- read-only, and the ids
async def test_reading_an_unknown_session_creates_and_switches_nothing(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        sid = (await tools.ok("nemo_upload", {"items": [str(rig.song)]})).data["session_id"]
        created = requests_to(emu, "session")
        res = await tools.fail("nemo_get_state", {"session_id": "5529798706024415232"})
        assert_actionable(res, "session_not_found")
        assert "Nothing was created or switched" in res.text
        assert requests_to(emu, "session") == created
        listed = await tools.ok("nemo_list_sessions")
        assert listed.data["current_session_id"] == sid
        assert [s["session_id"] for s in listed.data["sessions"]] == [sid]
        turn = await tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        assert turn.data["session_id"] == sid  # the paid message went where it should


HOSTILE_IDS = [
    "../../api/credits/balance/simple?",
    "1/../../../api/credits/balance/simple",
    "%2e%2e%2f%2e%2e",
    "1?x=1",
    "1#fragment",
    "a b",
    " ",
    "..",
    "1\n2",
    "x" * 200,
]


async def test_ids_never_become_another_url(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        before = len(emu.requests())
        for bad in HOSTILE_IDS:
            for tool, args in (
                ("nemo_get_state", {"session_id": bad}),
                ("nemo_chat", {"message": "make it louder", "session_id": bad}),
                ("nemo_upload", {"items": [str(rig.song)], "session_id": bad}),
                ("nemo_export", {"session_id": bad}),
            ):
                res = await tools.call(tool, args)
                assert res.is_error, (tool, bad, res.text)
                assert res.error["kind"] == "invalid_input", (tool, bad, res.text)
        assert len(emu.requests()) == before  # nothing was sent anywhere
        listed = await tools.ok("nemo_list_sessions")
        assert len(listed.data["sessions"]) == 1


async def test_the_client_checks_and_escapes_every_id(tmp_path: Path) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"code": 0, "data": {"state": {}}})

    settings = Settings(
        api_url="http://api.nemo.test", token="nmv_usr_PATHS0test0token", home=tmp_path
    )
    async with NemoClient(
        settings, store=SQLiteStore(tmp_path), transport=httpx.MockTransport(answer)
    ) as client:
        for bad in HOSTILE_IDS:
            with pytest.raises(InvalidInputError):
                await client.get_state(bad)
            with pytest.raises(InvalidInputError):
                await client.get_render(bad)
        await client.get_state("5529798706024415232")
    assert seen == ["/api/state/nemo_agent/me/5529798706024415232/latest"]
    assert (
        paths.fill(paths.STATE, session_id="a/../b") == "/api/state/nemo_agent/me/a%2F..%2Fb/latest"
    )


# --------------------------------------------------------------------- --allow-remote hosts
def _own_address() -> str | None:
    for name in hostrules._own_names():
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            continue
        if ip.version == 4 and not ip.is_loopback:
            return str(ip)
    return None


def _initialize(address: str, port: int, headers: dict[str, str]) -> int:
    return post_initialize(f"http://{address}:{port}/mcp", headers).status_code


@pytest.mark.slow
async def test_allow_remote_answers_the_names_other_machines_use(rig: Rig) -> None:
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    emu = rig.emulator()
    args = ("--host", "0.0.0.0", "--allow-remote", "--allowed-host", "mcp.example.org")
    with http_served(rig, rig.env(emu), *args) as (_, port):
        own = {"Host": f"{address}:{port}"}
        assert _initialize(address, port, own) == 200
        assert _initialize(address, port, {"Host": f"{socket.gethostname()}:{port}"}) == 200
        assert _initialize(address, port, {"Host": "mcp.example.org"}) == 200  # a proxy's name
        assert _initialize("127.0.0.1", port, {}) == 200
        assert _initialize(address, port, {"Host": f"evil.example:{port}"}) == 421
        assert _initialize(address, port, {**own, "Origin": "http://evil.example"}) == 403
        assert _initialize(address, port, {**own, "Origin": f"http://{address}:{port}"}) == 200
        async with http_tools(rig, f"http://{address}:{port}/mcp") as tools:
            await tools.ok("nemo_get_credits")


def test_host_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostrules, "_own_names", lambda: ["box", "192.0.2.7", "fd00::7"])
    local = hostrules.allowed_hosts("127.0.0.1", 8765)
    assert local == ["127.0.0.1:8765", "localhost:8765", "[::1]:8765"]
    assert "10.1.2.3:8765" in hostrules.allowed_hosts("10.1.2.3", 8765)
    wild = hostrules.allowed_hosts("0.0.0.0", 8765, ["proxy.example", "[::1]:9", "h:80"])
    for expected in ("box:8765", "192.0.2.7:8765", "[fd00::7]:8765", "proxy.example:*", "h:80"):
        assert expected in wild, wild
    assert not any("evil" in h for h in wild)
