"""The README's library example runs as written: extracted from README.md, run in a fresh Python
process against the emulator, with a song in its working folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from nemo_mcp.media.probe import mp4_problem
from support.emulator import FAST
from support.processes import clean_env

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "### 4. From Python"


def library_example() -> str:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    after = text.split(SECTION, 1)[1]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match, f"no python block under {SECTION!r}"
    code = match.group(1)
    assert "from nemo_mcp import Studio" in code, code
    return code


@pytest.mark.slow
def test_the_readme_library_example_runs(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    synth.make_song(work / "song.mp3", 6.0, bpm=120)
    script = work / "example.py"
    script.write_text(library_example(), encoding="utf-8")
    out = tmp_path / "exports"
    with EmulatorServer(**FAST) as emu:
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=work,
            env=clean_env(
                NEMO_API_URL=emu.url,
                NEMO_WEB_URL=emu.url,
                NEMO_MCP_HOME=str(tmp_path / "state"),
                NEMO_MCP_OUTPUT_DIR=str(out),
            ),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(emu.requests(endpoint="run_sse")) == 1  # one chat message, sent once
    videos = sorted(out.glob("*.mp4"))
    assert len(videos) == 1, (proc.stdout, list(out.iterdir()) if out.exists() else None)
    assert mp4_problem(videos[0]) is None
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == str(videos[0]), proc.stdout  # the example prints where the MP4 is
    assert "music video" in proc.stdout.lower(), proc.stdout  # and the agent's reply
