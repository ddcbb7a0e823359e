"""Fixtures of the reliability and security suite, and its session-wide counters.

The ``ledger`` fixture lives for the whole session (from the first test of this folder on). It
attaches a logging handler that keeps every record, and at the end it asserts, prints (terminal
summary) and writes to ``.benchmarks-out/reliability.json``:

- chat messages the emulator ran twice: 0;
- renders the emulator accepted that never reached a terminal state in a state store: 0;
- partial files (``*.part``, empty or broken MP4s) left in output folders: 0;
- tokens (every one any emulator issued, plus the sentinel ``NEMO_TOKEN``) found in any tool
  result, progress message, exception, log record or server stderr: 0;
- files outside the allowed folders that nemo-mcp opened for reading (an audit hook watches
  every open in this process): 0;
- identical chat messages raced at once (over stdio, HTTP, two processes), each counted in the
  emulator's history like every other message (sent twice: 0);
- bytes held: the peak resident memory of a process fed hostile answers (600 MB JSON, endless
  and oversized downloads), next to the same process fed a normal answer.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rel_helpers import AUDITORS, OUT_DIR, CaptureHandler, Ledger, Media, Rig, audit_all

from nemo_mcp import constants
from nemo_mcp.emulator.render import synth

_SUMMARY: dict[str, Any] = {}
_LEVELS = {"nemo_mcp": logging.DEBUG, "nemo_mcp.emulator": logging.INFO, "httpx": logging.INFO}
# Where the product and the libraries it drives log. The handler sits on these loggers rather
# than on the root, which the CLI's logging set-up replaces.
_WATCHED = ("nemo_mcp", "httpx", "httpcore", "mcp")
_LEDGER = Ledger()
_HANDLER = CaptureHandler(_LEDGER)


def pytest_configure(config: Any) -> None:
    """Capture log records from the moment this folder is collected: every test after that,
    in any folder, is scanned too. The audit hook (outside reads) is installed once, for good
    (audit hooks cannot be removed)."""
    for name in _WATCHED:
        logging.getLogger(name).addHandler(_HANDLER)
    AUDITORS.append(_LEDGER)
    sys.addaudithook(audit_all)


@pytest.fixture(scope="session", autouse=True)
def ledger() -> Iterator[Ledger]:
    led = _LEDGER
    try:
        yield led
    finally:
        for name in _WATCHED:
            logging.getLogger(name).removeHandler(_HANDLER)
    counters = led.counters()
    leaks = led.leaks()
    _SUMMARY.update(counters)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "reliability.json").write_text(
        json.dumps({"counters": counters, "details": led.details()}, indent=2) + "\n"
    )
    assert not leaks, leaks
    assert not led.duplicates, led.duplicates
    assert not led.renders_lost, led.renders_lost
    assert not led.partial_files, led.partial_files
    assert not led.outside_reads, led.outside_reads


@pytest.fixture(autouse=True)
def capture_everything(ledger: Ledger) -> Iterator[None]:
    """DEBUG logs of the product during each test of this folder."""
    for name in _WATCHED:
        if _HANDLER not in logging.getLogger(name).handlers:
            logging.getLogger(name).addHandler(_HANDLER)
    saved = {name: logging.getLogger(name).level for name in _LEVELS}
    for name, level in _LEVELS.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries keep their logic but not their wall-clock waits."""
    monkeypatch.setattr(constants, "RETRY_BASE_DELAY", 0.01)
    monkeypatch.setattr(constants, "RETRY_JITTER", 0.01)
    monkeypatch.setattr(constants, "RATE_LIMIT_RETRY_DELAY", 0.05)


@pytest.fixture(scope="session")
def media_cache(tmp_path_factory: pytest.TempPathFactory) -> Media:
    root = tmp_path_factory.mktemp("rel-media")
    return Media(
        song=synth.make_song(root / "song.mp3", 3.0, bpm=120),
        photo=synth.make_photo(root / "photo.jpg", "Photo", color=(30, 90, 170)),
        clip=synth.make_clip(root / "clip.mp4", 2.0),
    )


@pytest.fixture
def rig(ledger: Ledger, tmp_path: Path, media_cache: Media) -> Iterator[Rig]:
    r = Rig(ledger, tmp_path, media_cache)
    try:
        yield r
    finally:
        r.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _SUMMARY:
        return
    terminalreporter.section("reliability counters")
    for key, value in _SUMMARY.items():
        terminalreporter.write_line(f"{key:>28}: {value}")
