"""Shared pieces of the benchmark suite: result rows, statistics, child processes, the emulator
in its own process, and a clean environment for servers under test.

Every benchmark measures its subject and its baseline *in the same run*, interleaved where the
subject allows it, and reports medians and their ratio: absolute times on a shared machine mean
little, ratios measured side by side much more.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio

from nemo_mcp.contract import headers, paths

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench-cache"
OUT = ROOT / ".benchmarks-out"

# The SDK's floor: a bare MCPServer whose one tool does nothing, the baseline of the cold-start
# row and a measure beside the tool-call and HTTP rows. Each benchmark appends how it runs.
FLOOR_SERVER = '''
import sys

import anyio
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("floor")


@mcp.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"

'''
FLOOR_STDIO = FLOOR_SERVER + "mcp.run()\n"
FLOOR_HTTP = FLOOR_SERVER + (  # stateless, event streams, on uvicorn, as `serve --http` runs
    "anyio.run(lambda: mcp.run_streamable_http_async(port=int(sys.argv[1]), stateless_http=True))\n"
)
FLOOR_LABEL = "SDK floor: a bare MCPServer's tool that does nothing"


@dataclass
class Row:
    """One line of the results table. ``ratio`` = subject / baseline (lower is better unless
    ``higher_is_better``)."""

    benchmark: str
    subject: str
    value: str
    baseline: str = "-"
    ratio: float | None = None
    notes: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    goal: float | None = None  # the most ``ratio`` may be (the goals), if any
    also: str = ""  # a further condition of the goal, in words
    also_met: bool = True

    def ratio_text(self) -> str:
        return "-" if self.ratio is None else f"{self.ratio:.2f}x"

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        return self.ratio <= self.goal and self.also_met

    def goal_text(self) -> str:
        if self.goal is None:
            return "-"
        goal = f"at most {self.goal:.2f}x" + (f", {self.also}" if self.also else "")
        verdict = "met" if self.met else "MISSED"
        if self.ratio is not None and self.ratio > self.goal and round(self.ratio, 2) <= self.goal:
            verdict += f" ({self.ratio:.3f}x)"  # over by less than the table shows
        return f"{goal}: {verdict}"


def spread(values: Sequence[float], fmt: Any) -> str:
    """``N=5, range a-b`` for a list of measurements formatted by ``fmt``."""
    if not values:
        return "N=0"
    return f"N={len(values)}, range {fmt(min(values))}-{fmt(max(values))}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 1_048_576:,.1f} MB"


def table(rows: Sequence[Row]) -> str:
    """The Markdown table printed at the end and pasted into the README."""
    lines = [
        "| Benchmark | Subject | Median | Baseline (same run) | Ratio | Goal | Notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cells = [
            r.benchmark,
            r.subject,
            r.value,
            r.baseline,
            r.ratio_text(),
            r.goal_text(),
            r.notes,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_results(rows: Sequence[Row], meta: Mapping[str, Any], out: Path = OUT) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    body = {"meta": dict(meta), "rows": [asdict(r) for r in rows], "table": table(rows)}
    path = out / f"bench-{stamp}.json"
    text = json.dumps(body, indent=2, default=str) + "\n"
    path.write_text(text)
    (out / "bench-latest.json").write_text(text)
    return path


README = ROOT / "README.md"
TABLE_START = "<!-- benchmark table: written by `python3 dev.py bench --readme` -->"
TABLE_END = "<!-- end of benchmark table -->"


def write_readme(rows: Sequence[Row], meta: Mapping[str, Any], readme: Path = README) -> None:
    """Replace the table between the README's markers with this run's, and say how it ran."""
    text = readme.read_text(encoding="utf-8")
    if TABLE_START not in text or TABLE_END not in text:
        raise RuntimeError(f"{readme.name} has no benchmark table markers")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    load = meta.get("load_average")
    how = (
        f"Python {meta.get('python')}, {meta.get('cpus')} CPUs"
        + (f", load average {load[0]:.1f} at the end of the run" if load else "")
        + f"; `{meta.get('command', '').strip()}`."
    )
    body = f"{TABLE_START}\n{table(rows)}\n\n{how}\n{TABLE_END}"
    readme.write_text(head + body + tail, encoding="utf-8")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without NemoVideo settings, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NEMO_", "SKILL_"))}
    return {**base, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout:.0f} s")


@contextmanager
def emulator(**config: Any) -> Iterator[str]:
    """The NemoVideo emulator in its own process (so it never competes with the measured code
    for this interpreter's GIL); yields its URL."""
    config.setdefault("anon_tokens_per_ip", 0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._emulator", json.dumps(config)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the emulator did not start")
        yield url
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class ChildRun:
    seconds: float
    returncode: int
    max_rss_kb: int
    stdout: str
    stderr: str


def run_child(args: Sequence[str], *, env: Mapping[str, str] | None = None) -> ChildRun:
    """Run a command; wall time and the child's peak RSS (``/usr/bin/time -v`` when present,
    else ``wait4``)."""
    time_bin = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else "")
    use_time = bool(time_bin) and sys.platform.startswith("linux")
    cmd = [time_bin, "-v", *args] if use_time else list(args)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        text=True,
    )
    if use_time:
        out, err = proc.communicate()
        seconds = time.perf_counter() - started
        rss = 0
        for line in err.splitlines():
            if "Maximum resident set size" in line:
                rss = int(line.rsplit(":", 1)[1].strip())
        return ChildRun(seconds, proc.returncode, rss, out, err)
    assert proc.stdout is not None and proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(seconds, proc.returncode, int(usage.ru_maxrss), out, err)


def anonymous_session(url: str) -> tuple[str, str]:
    """A token and a session made with plain HTTP (for the baselines that need one)."""
    import uuid

    import httpx

    with httpx.Client(base_url=url, timeout=30.0, trust_env=False) as http:
        r = http.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: str(uuid.uuid4())})
        r.raise_for_status()
        token = str(r.json()["data"]["token"])
        r = http.post(
            paths.CREATE_SESSION,
            headers={"Authorization": f"Bearer {token}", **attribution()},
            json={"task_name": "bench", "language": "en"},
        )
        r.raise_for_status()
        return token, str(r.json()["data"]["session_id"])


def attribution() -> dict[str, str]:
    """The ``X-Skill-*`` headers nemo-mcp sends (so baselines send the same)."""

    return {
        headers.SKILL_SOURCE: "nemo-mcp",
        headers.SKILL_VERSION: "0.1.0",
        headers.SKILL_PLATFORM: "mcp",
    }


async def burst(
    clients: int, per_client: int, call: Callable[[int, int], Awaitable[None]]
) -> tuple[list[float], float]:
    """``clients`` tasks, released together once all are waiting, each making ``per_client``
    calls ``call(client, k)`` in turn: every call's latency, and the wall time of the burst."""
    latencies: list[float] = []
    start = anyio.Event()

    async def worker(c: int) -> None:
        await start.wait()
        for k in range(per_client):
            t0 = time.perf_counter()
            await call(c, k)
            latencies.append(time.perf_counter() - t0)

    async with anyio.create_task_group() as tg:
        for c in range(clients):
            tg.start_soon(worker, c)
        await anyio.sleep(0.1)  # every task waiting at the start
        started = time.perf_counter()
        start.set()
    return latencies, time.perf_counter() - started


def say(text: str) -> None:
    """Progress on stderr (stdout carries only the final table)."""
    print(text, file=sys.stderr, flush=True)
