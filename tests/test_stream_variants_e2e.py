"""Every successful stream variant of the emulator, end to end through the real client, the
turn logic and the studio, on a loopback socket: the reply comes out once, the timeline change
is seen, and the message is sent exactly once."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nemo_mcp.config import Settings
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from nemo_mcp.studio.facade import Studio
from support.emulator import FAST, MUSIC_VIDEO, run_sse_posts

pytestmark = pytest.mark.anyio


VARIANTS = [
    "adk",
    "adk_snake",
    "adk,partial",
    "adk_snake,partial",
    "typed",
    "adk,hb=comment",
    "adk,hb=empty",
    "adk,hb=json",
    "adk,hb=text",
    "adk,thoughts",
    "typed,hb=json",
]


@pytest.fixture(scope="module")
def song_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.make_song(tmp_path_factory.mktemp("song") / "song.mp3", 4.0, bpm=120)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(**FAST) as server:
        yield server


@pytest.fixture
async def studio(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[Studio]:
    settings = Settings.from_env(
        {
            "NEMO_API_URL": emu.url,
            "NEMO_MCP_HOME": str(tmp_path / "state"),
            "NEMO_MCP_OUTPUT_DIR": str(tmp_path / "out"),
            "NEMO_MCP_ALLOWED_DIRS": str(tmp_path / "media"),
        }
    )
    async with Studio.open(settings, face="mcp", poll_interval=0.2) as s:
        yield s


@pytest.mark.parametrize("variant", VARIANTS)
async def test_variant_condenses_to_one_reply_and_the_change(
    studio: Studio, emu: EmulatorServer, song_source: Path, tmp_path: Path, variant: str
) -> None:
    emu.set_config(stream=variant)
    (tmp_path / "media").mkdir()
    song = Path(shutil.copyfile(song_source, tmp_path / "media" / "song.mp3"))
    await studio.upload([str(song)])
    emu.clear_requests()

    turn = await studio.chat(MUSIC_VIDEO, wait=60)

    assert turn.status == "replied", turn
    assert turn.reply, "every variant carries a final text"
    # partial chunks are replaced by the final text, never added to it
    first_sentence = turn.reply.split(".")[0]
    assert turn.reply.count(first_sentence) == 1, turn.reply
    # thought parts never reach the answer
    assert "thinking" not in turn.reply.lower()
    assert turn.changes, "the new tracks are reported"
    assert turn.export_ready is True
    assert run_sse_posts(emu) == 1
