"""Smoke run of the benchmark suite at tiny sizes: the code works end to end (no timings are
asserted; the numbers are the benchmarks' business, not the tests')."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _postgres() -> bool:
    """The hosted benchmark needs the PostgreSQL server the hosted tests use (CI has it)."""
    import os

    import psycopg

    from support.postgres import SERVER

    try:
        psycopg.connect(SERVER, connect_timeout=5).close()
    except psycopg.OperationalError:
        return bool(os.environ.get("CI"))  # in CI, run it anyway: a missing server must fail
    return True


@pytest.mark.slow
def test_quick_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    only = ["--only", "cold,calls,condense,transfer,concurrency"] if not _postgres() else []
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-peers", "--out", str(out), *only],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("| Benchmark | Subject | Median | Baseline (same run) | Ratio |")
    body = "\n".join(lines)
    for name in ("Cold start", "Tool-call overhead", "Chat condensing", "Upload", "Download"):
        assert name in body, body
    assert "Concurrency" in body
    if not only:
        assert "Hosted: 8 MCP clients" in body and "Store:" in body
    assert "failed" not in body
    results = json.loads((out / "bench-latest.json").read_text())
    rows = results["rows"]
    assert all(r["value"] != "n/a" for r in rows), rows
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    assert ratios and all(x > 0 for x in ratios)
    if shutil.which("curl") is None:
        assert "curl not found" in body


def test_table_and_statistics() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.common import Row, median, percentile, table
    finally:
        sys.path.remove(str(ROOT))
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0
    assert percentile([5.0], 50) == 5.0
    text = table([Row("b", "s|x", "1 ms", "base", 1.5, "n")])
    assert text.splitlines()[2] == "| b | s\\|x | 1 ms | base | 1.50x | - | n |"
    goal = table([Row("b", "s", "1 ms", "base", 1.2, "n", goal=1.25)]).splitlines()[2]
    assert "| 1.20x | at most 1.25x: met |" in goal
    missed = Row("b", "s", "1 ms", "base", 1.3, goal=1.25)
    assert missed.met is False and missed.goal_text().endswith("MISSED")
    close = Row("b", "s", "1 ms", "base", 1.054, goal=1.05)
    assert close.ratio_text() == "1.05x" and close.goal_text().endswith("MISSED (1.054x)")


def test_the_readme_table_is_replaced_between_its_markers(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.common import TABLE_END, TABLE_START, Row, write_readme
    finally:
        sys.path.remove(str(ROOT))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nBefore.\n\n{TABLE_START}\nold table\n{TABLE_END}\n\nAfter.\n")
    meta = {"python": "3.11.7", "cpus": 2, "load_average": (1.5, 1.0, 0.5), "command": "bench"}
    write_readme([Row("b", "s", "1 ms", "base", 1.1, goal=1.25)], meta, readme)
    text = readme.read_text()
    assert "old table" not in text
    assert text.startswith("# Title\n\nBefore.\n\n") and text.endswith("\n\nAfter.\n")
    assert "| b | s | 1 ms | base | 1.10x | at most 1.25x: met |  |" in text
    assert "load average 1.5" in text
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers")
    with pytest.raises(RuntimeError):
        write_readme([], meta, plain)
