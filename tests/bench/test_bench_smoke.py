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
    assert text.splitlines()[2] == "| b | s\\|x | 1 ms | base | 1.50x | n |"
