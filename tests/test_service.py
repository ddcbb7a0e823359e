"""The studio (service layer) against the emulator: language detection, the duplicate-message
guard, one turn at a time, export dedupe, the render retry, ambiguous submits, download checks
and never overwriting an export."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel

from nemo_mcp.config import Settings
from nemo_mcp.contract import paths
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from nemo_mcp.errors import DownloadError, InvalidInputError, RenderFailedError
from nemo_mcp.studio.base import detect_language
from nemo_mcp.studio.facade import Studio
from nemo_mcp.studio.texts import lines_for
from support.emulator import FAST, MUSIC_VIDEO, fast_studio


def lines_text(view: BaseModel) -> str:
    """What a result says, as either face words its sentences."""
    return "\n".join(lines_for(view))


pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def song_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.make_song(tmp_path_factory.mktemp("song") / "song.mp3", 6.0, bpm=120)


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(**FAST) as server:
        yield server


@pytest.fixture
def song(tmp_path: Path, song_source: Path) -> Path:
    (tmp_path / "media").mkdir()
    return Path(shutil.copyfile(song_source, tmp_path / "media" / "song.mp3"))


@pytest.fixture
def settings(emu: EmulatorServer, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "NEMO_API_URL": emu.url,
            "NEMO_MCP_HOME": str(tmp_path / "state"),
            "NEMO_MCP_OUTPUT_DIR": str(tmp_path / "out"),
            "NEMO_MCP_ALLOWED_DIRS": str(tmp_path / "media"),
        }
    )


@asynccontextmanager
async def studio_for(settings: Settings) -> AsyncIterator[Studio]:
    async with fast_studio(settings) as studio:
        yield studio


@pytest.fixture
async def studio(settings: Settings) -> AsyncIterator[Studio]:
    async with studio_for(settings) as s:
        yield s


async def _ready(studio: Studio, song: Path) -> str:
    up = await studio.upload([str(song)])
    turn = await studio.chat(MUSIC_VIDEO)
    assert turn.export_ready, turn
    return up.session_id


def _posts(emu: EmulatorServer, path: str) -> int:
    return len([r for r in emu.requests(path=path) if r.method == "POST"])


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for an effect in the emulator's thread (it has no event to await)."""
    with anyio.fail_after(timeout):
        while not check():  # noqa: ASYNC110
            await anyio.sleep(0.02)


def _mp4s(folder: Path) -> list[Path]:
    return sorted(folder.glob("*")) if folder.exists() else []


# --- language ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("把这些照片做成宣传视频", "en_US.UTF-8", "zh-CN"),
        ("この曲でミュージックビデオを作って", "en_US.UTF-8", "ja"),
        ("이 노래로 뮤직비디오 만들어 줘", "en_US.UTF-8", "ko"),
        ("make a music video", "de_DE.UTF-8", "de-DE"),
        ("make a music video", "en_GB.UTF-8", "en"),
        ("make a music video", "C", "en"),
        ("make a music video", "POSIX", "en"),
        (None, "", "en"),
        (None, "fr_FR", "fr-FR"),
    ],
)
def test_detect_language(
    monkeypatch: pytest.MonkeyPatch, text: str | None, lang: str, expected: str
) -> None:
    monkeypatch.setenv("LANG", lang)
    assert detect_language(text) == expected


async def test_new_session_language_follows_the_first_message(
    studio: Studio, emu: EmulatorServer
) -> None:
    turn = await studio.chat("你好，帮我做一个背景音乐")
    rec = studio.store.get_session(turn.session_id)
    assert rec is not None and rec.language == "zh-CN"
    with emu.state.lock:
        assert emu.state.sessions[turn.session_id].language == "zh-CN"


# --- chat --------------------------------------------------------------------------------------
async def test_duplicate_message_is_not_sent_again(
    studio: Studio, emu: EmulatorServer, song: Path
) -> None:
    await studio.upload([str(song)])
    first = await studio.chat(MUSIC_VIDEO)
    assert _posts(emu, paths.RUN_SSE) == 1
    second = await studio.chat(f"  {MUSIC_VIDEO} ")
    assert _posts(emu, paths.RUN_SSE) == 1
    assert second.turn_id == first.turn_id
    assert second.duplicate and "not sent again" in lines_text(second)
    forced = await studio.chat(MUSIC_VIDEO, force=True)
    assert _posts(emu, paths.RUN_SSE) == 2
    assert forced.turn_id != first.turn_id


async def test_duplicate_guard_holds_across_processes(
    settings: Settings, emu: EmulatorServer, song: Path
) -> None:
    """Each CLI command is a new process: the guard must come from the state folder."""
    async with studio_for(settings) as first_process:
        await first_process.upload([str(song)])
        first = await first_process.chat(MUSIC_VIDEO)
    async with studio_for(settings) as second_process:
        again = await second_process.chat(MUSIC_VIDEO)
        assert again.turn_id == first.turn_id and again.duplicate
    assert _posts(emu, paths.RUN_SSE) == 1


async def test_one_turn_at_a_time_per_session(
    studio: Studio, emu: EmulatorServer, song: Path
) -> None:
    up = await studio.upload([str(song)])
    emu.set_config(generation_seconds=1.0)
    running = await studio.chat(MUSIC_VIDEO, wait=0)
    assert running.status == "running" and not running.done
    await _until(lambda: _posts(emu, paths.RUN_SSE) == 1)
    with pytest.raises(InvalidInputError) as err:
        await studio.chat('add a title "Hi" from 0 to 2 seconds')
    assert running.turn_id in str(err.value)
    assert _posts(emu, paths.RUN_SSE) == 1

    # another session is not blocked
    other = await studio.new_session(language="en")
    elsewhere = await studio.chat(
        "make a 10 second calm background track", session_id=other.session_id
    )
    assert elsewhere.done and elsewhere.session_id == other.session_id
    assert _posts(emu, paths.RUN_SSE) == 2

    done = await studio.turn_status(running.turn_id, wait=30)
    assert done.status == "replied" and done.session_id == up.session_id
    # now the first session takes a new message again
    after = await studio.chat('add a title "Hi" from 0 to 2 seconds', session_id=up.session_id)
    assert after.done


async def test_cancelled_studio_marks_the_turn_interrupted(
    settings: Settings, emu: EmulatorServer, song: Path
) -> None:
    emu.set_config(generation_seconds=5.0)
    async with studio_for(settings) as studio:
        await studio.upload([str(song)])
        running = await studio.chat(MUSIC_VIDEO, wait=0)
        await _until(lambda: _posts(emu, paths.RUN_SSE) == 1)
    async with studio_for(settings) as studio:
        view = await studio.turn_status(running.turn_id)
        assert view.status == "interrupted" and view.done
        assert "outcome is unknown" in lines_text(view)
    assert _posts(emu, paths.RUN_SSE) == 1


# --- export ------------------------------------------------------------------------------------
async def test_export_dedupe_across_processes(
    settings: Settings, emu: EmulatorServer, song: Path
) -> None:
    async with studio_for(settings) as first_process:
        await _ready(first_process, song)
        first = await first_process.export()
    async with studio_for(settings) as second_process:
        again = await second_process.export()
        assert again.render_id == first.render_id and again.reused
    assert _posts(emu, paths.RENDER) == 1


async def test_export_dedupe(studio: Studio, emu: EmulatorServer, song: Path) -> None:
    await _ready(studio, song)
    first = await studio.export()
    assert first.status == "downloaded"
    again = await studio.export()
    assert again.render_id == first.render_id and "already exported" in lines_text(again)
    assert _posts(emu, paths.RENDER) == 1
    forced = await studio.export(force=True)
    assert forced.render_id != first.render_id and forced.status == "downloaded"
    assert forced.file != first.file
    assert _posts(emu, paths.RENDER) == 2
    # a changed timeline is a new export
    await studio.chat('add a title "Summer" from 0 to 3 seconds')
    changed = await studio.export()
    assert changed.render_id not in (first.render_id, forced.render_id)
    assert _posts(emu, paths.RENDER) == 3


async def test_failed_render_is_retried_once_with_a_new_id(
    studio: Studio, emu: EmulatorServer, song: Path
) -> None:
    await _ready(studio, song)
    emu.set_config(fail_renders=1)
    view = await studio.export()
    assert view.status == "downloaded", view
    submits = [r for r in emu.requests(path=paths.RENDER) if r.method == "POST"]
    assert len(submits) == 2
    renders = studio.store.list_renders()
    assert len(renders) == 2
    failed = next(r for r in renders if r.status == "failed")
    assert f"retried as {view.render_id}" in (failed.error or "")
    assert failed.replaced_by == view.render_id
    assert failed.render_id != view.render_id
    # the first id now answers with the retry's outcome
    assert (await studio.render_status(failed.render_id)).render_id == view.render_id


async def test_render_failing_twice_is_reported(
    studio: Studio, emu: EmulatorServer, song: Path
) -> None:
    await _ready(studio, song)
    emu.set_config(fail_renders=2)
    with pytest.raises(RenderFailedError) as err:
        await studio.export()
    assert "failed" in str(err.value)
    assert _posts(emu, paths.RENDER) == 2  # the one retry, no more
    assert all(r.status == "failed" for r in studio.store.list_renders())
    assert _mp4s(studio.settings.output_dir) == []


@pytest.mark.parametrize("fault", ["render_submit:504:times=1", "render_submit:reset:times=1"])
async def test_ambiguous_submit_unknown_to_the_server_is_not_resubmitted(
    studio: Studio, emu: EmulatorServer, song: Path, fault: str
) -> None:
    await _ready(studio, song)
    emu.set_faults(fault)
    with pytest.raises(RenderFailedError) as err:
        await studio.export()
    assert "nothing is rendering" in str(err.value)
    assert _posts(emu, paths.RENDER) == 1
    [rec] = studio.store.list_renders()
    assert rec.status == "failed"
    # it was looked up by its id
    assert any(
        r.path == paths.fill(paths.RENDER_STATUS, render_id=rec.render_id) for r in emu.requests()
    )
    # and a new export is not answered with the dead one
    view = await studio.export()
    assert view.status == "downloaded" and view.render_id != rec.render_id
    assert _posts(emu, paths.RENDER) == 2


async def test_ambiguous_submit_that_reached_the_server_is_followed(
    studio: Studio, emu: EmulatorServer, song: Path
) -> None:
    """The submit ran but its answer was cut off: the render is found by id and finished."""
    await _ready(studio, song)
    emu.set_faults("render_submit:truncate=5:times=1")
    view = await studio.export()
    assert view.status == "downloaded", view
    assert _posts(emu, paths.RENDER) == 1
    assert len(emu.state.renders) == 1


async def test_a_brief_404_while_polling_an_accepted_render_is_tolerated(
    studio: Studio, emu: EmulatorServer, song: Path
) -> None:
    """Just after a submit, one poll may not find the render yet; that is not a failure."""
    await _ready(studio, song)
    emu.set_faults("render_poll:404:times=2")
    view = await studio.export()
    assert view.status == "downloaded", view
    assert _posts(emu, paths.RENDER) == 1


async def test_download_failing_its_check_leaves_no_file(
    studio: Studio, emu: EmulatorServer, song: Path
) -> None:
    await _ready(studio, song)
    emu.set_faults("cdn:delay=1.0:times=1")  # time to spoil the rendered file before download
    export = await studio.export(wait=0)

    def completed() -> bool:
        render = emu.render(export.render_id)
        return render is not None and render.status == "completed"

    await _until(completed)
    render = emu.render(export.render_id)
    assert render is not None and render.file
    spoiled = emu.state.renders_dir / render.file
    size = spoiled.stat().st_size
    spoiled.write_bytes(b"<html>not a video</html>".ljust(size, b" "))

    with pytest.raises(DownloadError) as err:
        await studio.render_status(export.render_id, wait=30)
    assert "failed its check" in str(err.value)
    assert _mp4s(studio.settings.output_dir) == []  # no MP4, no partial file
    rec = studio.store.get_render(export.render_id)
    assert rec is not None and rec.output_path is None and rec.error


async def test_output_is_never_overwritten(studio: Studio, emu: EmulatorServer, song: Path) -> None:
    await _ready(studio, song)
    out = studio.settings.output_dir
    out.mkdir(parents=True, exist_ok=True)
    mine = out / "clip.mp4"
    mine.write_bytes(b"my own file")
    view = await studio.export(filename="clip")
    assert view.file == str(out / "clip (2).mp4")
    assert mine.read_bytes() == b"my own file"
    replaced = await studio.export(filename="clip", overwrite=True, force=True)
    assert replaced.file == str(mine)
    assert mine.read_bytes()[4:8] == b"ftyp"
    assert sorted(p.name for p in out.iterdir()) == ["clip (2).mp4", "clip.mp4"]


async def test_export_refused_for_an_empty_timeline(studio: Studio, emu: EmulatorServer) -> None:
    await studio.new_session()
    with pytest.raises(InvalidInputError):
        await studio.export()
    assert _posts(emu, paths.RENDER) == 0
