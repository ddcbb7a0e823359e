"""Files under attack: swapped after the check, swapped for a FIFO, and confinement settings.

An upload is opened once, checked on that handle and sent from it, so replacing the file (or a
folder on its way) with a symlink to a secret, or with a FIFO, at any moment after it was named
reads nothing outside the allowed folders and never blocks the server. The allowed folders come
from the user's setting (or the defaults); a client's roots only narrow them; the disk root and
the home folder are never allowed; a broken setting is refused loudly.

The swaps happen at the exact moments that matter through hooks on the code path (the backend
"delays" until the file has been swapped): after the path was resolved and before it is opened,
and after every check and before the upload reads it. The audit hook of this suite counts any
file outside the allowed folders that nemo-mcp opens; the emulator's content hashes show what
was sent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from rel_helpers import AUDITORS, Ledger, Rig, stdio_tools

from nemo_mcp.api.client import NemoClient
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from nemo_mcp.errors import ConfigError, UnsafePathError
from nemo_mcp.files import roots, uploads
from nemo_mcp.media import containers
from support.emulator import requests_to
from support.results import assert_actionable

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(os.name == "nt", reason="symlinks and FIFOs as on POSIX"),
]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def received(emu: EmulatorServer) -> set[str]:
    """Content hashes of every file the emulator was sent."""
    with emu.state.lock:
        return {m.hash for m in emu.state.media.values()}


def secret_song(rig: Rig) -> Path:
    """A real MP3 (a re-check by content would pass it) in a folder nemo-mcp must not read."""
    return synth.make_song(rig.outside("secrets") / "id_rsa.mp3", 1.0, bpm=90, seed=7)


def swap_for_symlink(victim: Path, target: Path) -> None:
    victim.unlink()
    victim.symlink_to(target)


def swap_for_fifo(victim: Path) -> None:
    victim.unlink()
    os.mkfifo(victim)


def after_resolving(monkeypatch: pytest.MonkeyPatch, attack: Callable[[], None]) -> None:
    """Run ``attack`` right after the path was resolved and confined, before it is opened."""
    real = uploads.resolve_in_roots

    def resolve_then_attack(*args: Any, **kwargs: Any) -> Path:
        path = real(*args, **kwargs)
        attack()
        return path

    monkeypatch.setattr(uploads, "resolve_in_roots", resolve_then_attack)


def before_sending(monkeypatch: pytest.MonkeyPatch, attack: Callable[[], None]) -> None:
    """Run ``attack`` after every check, right before the upload reads the file."""
    real = NemoClient.upload_files

    async def attack_then_upload(self: NemoClient, *args: Any, **kwargs: Any) -> Any:
        attack()
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(NemoClient, "upload_files", attack_then_upload)


# ------------------------------------------------------------------------ swapped files
async def test_a_file_swapped_for_a_symlink_after_the_check_sends_the_checked_bytes(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = secret_song(rig)
    victim = Path(shutil.copyfile(rig.song, rig.media_dir / "victim.mp3"))
    checked = md5(victim)
    before_sending(monkeypatch, lambda: swap_for_symlink(victim, secret))
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_upload", {"items": [str(victim)]})
    assert victim.is_symlink()  # the swap did happen
    assert received(emu) == {checked}
    assert md5(secret) not in received(emu)


@pytest.mark.parametrize("where", ["the file", "a folder on its way"])
async def test_a_symlink_swapped_in_before_the_open_is_refused(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    secret = secret_song(rig)
    album = rig.media_dir / "album"
    album.mkdir()
    victim = Path(shutil.copyfile(rig.song, album / "id_rsa.mp3"))  # the secret's name too
    if where == "the file":
        after_resolving(monkeypatch, lambda: swap_for_symlink(victim, secret))
    else:

        def swap_folder() -> None:
            album.rename(rig.media_dir / "album.old")
            album.symlink_to(secret.parent, target_is_directory=True)

        after_resolving(monkeypatch, swap_folder)
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        res = await tools.fail("nemo_upload", {"items": [str(victim)]})
    err = assert_actionable(res, "unsafe_path")
    assert "nothing was read" in err["message"], err
    assert requests_to(emu, "upload") == 0 and received(emu) == set()


@pytest.mark.filterwarnings("ignore:ping is removed")
async def test_a_fifo_never_blocks_the_server(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO in place of the file, swapped in before the open or after the checks: the upload
    is refused or sends the checked bytes, and a ping meanwhile answers at once."""
    first = Path(shutil.copyfile(rig.song, rig.media_dir / "first.mp3"))
    second = Path(shutil.copyfile(rig.song, rig.media_dir / "second.mp3"))
    checked = md5(second)
    emu = rig.emulator()
    pings: list[float] = []
    async with rig.tools(emu, mode="legacy") as tools:  # (ping is a legacy-era request)

        async def ping_while(work: Any) -> Any:
            done = anyio.Event()
            out: list[Any] = []

            async def pinger() -> None:
                while not done.is_set():
                    started = time.monotonic()
                    await tools.client.send_ping()
                    pings.append(time.monotonic() - started)
                    await anyio.sleep(0.02)

            async def worker() -> None:
                out.append(await work())
                done.set()

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pinger)
                    tg.start_soon(worker)
            return out[0]

        after_resolving(monkeypatch, lambda: swap_for_fifo(first))
        res = await ping_while(lambda: tools.fail("nemo_upload", {"items": [str(first)]}))
        assert_actionable(res, "unsafe_path")
        assert "not a regular file" in res.text
        monkeypatch.undo()

        before_sending(monkeypatch, lambda: swap_for_fifo(second))
        await ping_while(lambda: tools.ok("nemo_upload", {"items": [str(second)]}))
    assert second.is_fifo()
    assert received(emu) == {checked}
    assert pings and max(pings) < 1.0, pings
    rig.ledger.measurements["fifo swap: slowest ping during the upload"] = {
        "pings": len(pings),
        "max_ms": round(max(pings) * 1000, 1),
    }


# ------------------------------------------------------------------ the allowed folders
BROKEN_SETTINGS = {
    "empty": "",
    "unfilled template": "${NEMO_MCP_ALLOWED_DIRS}",
    "missing folder": "/no/such/folder/anywhere",
    "the disk root": "/",
    "the home folder": "~",
}


@pytest.mark.parametrize("setting", sorted(BROKEN_SETTINGS))
async def test_a_broken_allowed_dirs_setting_is_refused_loudly(rig: Rig, setting: str) -> None:
    emu = rig.emulator()
    value = BROKEN_SETTINGS[setting]
    async with rig.tools(emu, NEMO_MCP_ALLOWED_DIRS=value) as tools:
        res = await tools.fail("nemo_upload", {"items": [str(rig.song)]})
        err = assert_actionable(res, "config")
        assert "NEMO_MCP_ALLOWED_DIRS" in err["message"] + err["hint"]
        await tools.ok("nemo_get_credits")  # everything else still works
    assert requests_to(emu, "upload") == 0


async def test_the_bundle_placeholder_for_a_blank_field_means_the_defaults(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An MCP bundle passes ``${user_config.media_dir}`` when its optional field is left blank:
    that is "not set" (the defaults, the working directory among them)."""
    monkeypatch.chdir(rig.media_dir)
    emu = rig.emulator()
    async with rig.tools(emu, NEMO_MCP_ALLOWED_DIRS="${user_config.media_dir}") as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})


@pytest.mark.slow
@pytest.mark.parametrize("cwd", ["/", "home"])
async def test_a_server_started_in_the_root_or_home_does_not_allow_everything(
    rig: Rig, cwd: str
) -> None:
    """No NEMO_MCP_ALLOWED_DIRS, started in ``/`` (or the home folder): the working directory
    is not an allowed folder then, so a media file elsewhere on disk is not read."""
    elsewhere = Path(shutil.copyfile(rig.song, rig.outside() / "song.mp3"))
    emu = rig.emulator()
    env = {k: v for k, v in rig.env(emu).items() if k != "NEMO_MCP_ALLOWED_DIRS"}
    folder = "/" if cwd == "/" else os.environ["HOME"]
    async with stdio_tools(rig, env, cwd=folder) as tools:
        res = await tools.fail("nemo_upload", {"items": [str(elsewhere)]})
        assert res.error["kind"] in ("unsafe_path", "config"), res.text
    assert requests_to(emu, "upload") == 0


def test_roots_narrow_the_setting_and_never_widen_it(tmp_path: Path) -> None:
    media = tmp_path / "media"
    (media / "project").mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    real = media.resolve()
    assert roots.upload_roots([media]) == [real]
    assert roots.upload_roots([media], [media / "project"]) == [real / "project"]
    assert roots.upload_roots([media / "project"], [Path("/")]) == [real / "project"]
    assert roots.upload_roots([media], [tmp_path]) == [real]  # a wider root: the setting
    with pytest.raises(UnsafePathError, match="does not overlap"):
        roots.upload_roots([media], [other])
    for broad in (Path("/"), Path.home(), Path.home().parent):
        with pytest.raises(ConfigError, match="never lets"):
            roots.upload_roots([broad])


def test_the_outside_read_counter_is_not_vacuous(tmp_path: Path) -> None:
    """The audit hook counts a read nemo-mcp makes of an outside file, and not a no-follow open
    that a symlink stops, nor a test's own reads."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = Path(shutil.copyfile(synth.make_song(tmp_path / "s.mp3", 0.5), outside / "s.mp3"))
    link = tmp_path / "link.mp3"
    link.symlink_to(secret)
    led = Ledger()
    led.outside_dirs.add(os.path.realpath(outside))
    AUDITORS.append(led)
    try:
        secret.read_bytes()  # the test's own read: not counted
        containers.sniff(secret)  # nemo-mcp's: counted
        with pytest.raises(UnsafePathError):
            uploads.open_media_file(link, [tmp_path], max_bytes=10**9)  # stopped: not counted
    finally:
        AUDITORS.remove(led)
    assert led.outside_reads == ["s.mp3 in outside"], led.outside_reads
