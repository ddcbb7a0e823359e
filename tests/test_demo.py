"""``nemo-mcp demo``: the seed workflow end to end (emulator, stdio MCP server, upload, chat,
export) produces a real music video as long as the song."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemo_mcp.media.probe import probe as probe_media
from nemo_mcp.setup import demo

SECONDS = 6.0


@pytest.mark.slow
def test_demo_makes_a_music_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--seconds", str(SECONDS)]) == 0
    printed = capsys.readouterr().out
    assert "6/6 exported" in printed
    last = printed.strip().splitlines()[-1]
    assert last.startswith("Your music video: ")
    video = Path(last.removeprefix("Your music video: "))
    assert video.is_file() and video.parent == (out / "exports").resolve()
    assert "(audio, 6 s)" in printed  # the upload result carries the song's duration

    probe = probe_media(video)
    assert probe is not None
    assert probe.video_codec == "h264" and probe.audio_codec == "aac"
    assert probe.width and probe.height and probe.width > probe.height
    assert probe.duration is not None and abs(probe.duration - SECONDS) < 0.5, probe
    # everything the demo made stays in its folder
    assert sorted(p.name for p in out.iterdir()) == [
        "emulator",
        "exports",
        "media",
        "server.log",
        "state",
    ]


def test_demo_reports_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the demo wants its folder")
    assert demo.main(["--out", str(blocker), "--seconds", "2"]) == 1
    assert "demo failed" in capsys.readouterr().err
