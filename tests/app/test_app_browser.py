"""The app in a real browser, in a host, fed by the real server: headless Chromium (Debian's)
driven by Playwright shows the app's ``ui://`` page inside a test host page that speaks the host
side of MCP Apps (ext-apps' ``AppBridge``) under the CSP the resource declares, with the result
of ``nemo_export`` from ``nemo-mcp serve`` running against the emulator.

What a person would check: the video loads and plays at the render's size, the timeline shows
the tracks with their labels and volumes, the buttons reach the server as ``tools/call`` (an
edit typed into the app changes the timeline it shows), the host's light and dark themes apply,
and at 400 px wide nothing spills sideways. Screenshots are kept in ``.test-artifacts/app/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_tools import APP_DIR, ARTIFACTS, app_packages, build, chromium, node

from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from support.emulator import fast
from support.processes import clean_env

pytestmark = pytest.mark.slow

EDIT = "set the music volume to 60%"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    # renders big enough to look at in the screenshots
    with EmulatorServer(**fast(render_max_side=640, render_fps=24)) as server:
        yield server


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def test_the_app_plays_the_video_and_shows_the_timeline(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    browser, node_bin = chromium(), node()
    app_packages()
    build("--host", str(tmp_path / "host"))
    media = tmp_path / "media"
    media.mkdir()
    song = synth.make_song(media / "summer-song.mp3", 10.0, bpm=120)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    config = {
        "server": [sys.executable, "-m", "nemo_mcp", "serve"],
        "env": clean_env(
            {
                "NEMO_API_URL": emulator.url,
                "NEMO_MCP_HOME": str(tmp_path / "state"),
                "NEMO_MCP_OUTPUT_DIR": str(tmp_path / "out"),
                "NEMO_MCP_ALLOWED_DIRS": str(media),
            }
        ),
        "song": str(song),
        "chromium": browser,
        "hostPage": str(tmp_path / "host" / "host.html"),
        "out": str(ARTIFACTS),
        "edit": EDIT,
    }
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    proc = subprocess.run(
        [node_bin, str(APP_DIR / "host" / "drive.mjs"), str(tmp_path / "config.json")],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    render = report["render"]

    # the host found the app: export and state bound, served with its MIME type and CSP
    assert report["bound"]["nemo_export"] == report["bound"]["nemo_get_state"]
    assert report["resource"]["mimeType"] == "text/html;profile=mcp-app"
    assert emulator.url.rstrip("/") in report["resource"]["csp"]["resourceDomains"]

    # opened by nemo_get_state before any export: the timeline and no video; the app's Export
    # button renders it (through the host) and the player shows it
    before = report["beforeExport"]
    assert before["stage"] == "empty" and "press Export" in before["empty"], before
    assert before["tracks"] == ["Video", "BGM", "Title"] and not before["storyboardVisible"]
    assert before["videoAfterExport"] == render["url"] and render["reused"] is True

    # the video loads from the (emulated) CDN under that CSP and plays at the render's size
    video = report["video"]
    assert video["src"] == render["url"]
    assert (video["width"], video["height"]) == (render["width"], render["height"])
    assert video["later"] > video["started"] + 0.5
    assert abs(video["duration"] - render["duration_s"]) < 0.5

    # the timeline: the tracks a person expects, with their words and volumes
    tracks = {t["role"]: t for t in report["timeline"]}
    assert list(tracks) == ["Video", "BGM", "Title"], report["timeline"]
    assert len(tracks["Video"]["clips"]) >= 2
    assert tracks["BGM"]["clips"] == ["summer-song.mp3"]
    assert tracks["Title"]["clips"] == ["Summer"]
    assert report["storyboard"]["shown"] and report["storyboard"]["png"]
    assert report["storyboard"]["width"] > report["storyboard"]["height"] > 0
    assert report["credits"] and report["credits"].endswith("credits")
    seek = report["storyboardSeek"]  # a frame of the storyboard clicked: the player goes there
    assert seek["at"] == pytest.approx(seek["wanted"], abs=0.05), seek

    # the buttons reach the server through the host: refresh, then an edit typed in the app
    from_app = [c["name"] for c in report["calls"] if c.get("from") == "app"]
    assert {"nemo_export", "nemo_get_state", "nemo_chat", "nemo_get_credits"} <= set(from_app)
    assert not any(c["isError"] for c in report["calls"]), report["calls"]
    after = {t["role"]: t for t in report["afterEdit"]}
    assert after["BGM"]["volume"] == "60%"

    # themes and size: dark and light really differ; 400 px wide, nothing spills sideways
    dark, light = _rgb(report["themes"]["dark"]), _rgb(report["themes"]["light"])
    assert sum(dark) < 150 < 600 < sum(light), report["themes"]
    narrow = report["narrow"]
    assert narrow["scrollWidth"] <= narrow["clientWidth"], narrow
    assert narrow["tracks"] == 3 and all(b["visible"] for b in narrow["buttons"]), narrow
    for shot in report["screenshots"]:
        assert Path(shot).stat().st_size > 10_000, shot
