"""Fixtures for the CLI tests: one emulator per module (reset for every test), media files,
and an environment pointing the CLI at them from a clean home folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from nemo_cli_helpers import REGISTERED_TOKEN, Env, Run, RunFn

from nemo_mcp import cli
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render.synth import make_photo, make_song
from support.emulator import fast


@pytest.fixture(scope="session")
def media_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media-source")
    make_song(folder / "song.mp3", 4.0)
    make_photo(folder / "photo.jpg", "Summer sale")
    (folder / "notes.mp3").write_text("these are my notes, not a song\n")
    return folder


@pytest.fixture(scope="module")
def emulator_server() -> Iterator[EmulatorServer]:
    # the shipped free credits (100): these tests follow a user's credits through a generation
    config = fast(anon_credits=100, registered_tokens=(REGISTERED_TOKEN,))
    with EmulatorServer(**config) as emu:
        yield emu


@pytest.fixture
def env(
    emulator_server: EmulatorServer,
    isolated_env: Path,
    media_source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Env:
    """The emulator (fresh state) plus a clean home; ``os.environ`` points the CLI at them."""
    emulator_server.reset()
    media = tmp_path / "media"
    shutil.copytree(media_source, media)
    e = Env(emu=emulator_server, home=isolated_env, media=media, out=tmp_path / "exports")
    for key, value in e.vars.items():
        monkeypatch.setenv(key, value)
    return e


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> RunFn:
    """``run("credits", "--json")``: ``cli.main`` in-process, with its output captured."""

    def _run(*argv: str) -> Run:
        capsys.readouterr()
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return _run
