"""Cold start: from spawning a stdio server to the answer of the first ``tools/list``.

Each run starts a fresh process through ``mcp.Client(StdioServerParameters(...))`` (legacy
handshake, which every subject speaks) and times spawn + ``initialize`` + ``tools/list``; the
process is then stopped (not timed). Subjects run interleaved, in a rotating order, N times each:

- ``nemo-mcp``: ``python -m nemo_mcp serve``;
- the SDK floor: a bare ``MCPServer`` with one tool, a script written to a temporary folder;
- peer servers from PyPI (each in its own virtual environment, see ``peers.py``).

Ratios are against the SDK floor measured in the same run.

Every subject starts from compiled bytecode, as an installed package does (pip compiles what it
installs): nemo-mcp's own modules are compiled first (``_compile_ours``), since a source
checkout may have none, and where ``PYTHONDONTWRITEBYTECODE`` is set it never gets any: each
start then compiled ~50 modules, ~27 ms here, that no installed copy compiles.
"""

from __future__ import annotations

import compileall
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

import nemo_mcp
from benchmarks.common import FLOOR_STDIO, Row, clean_env, median, ms, say
from benchmarks.peers import install, peer_env

START_TIMEOUT = 120.0
GOAL = 1.05  # nemo-mcp at most this many times the SDK floor (and ahead of every peer)


@dataclass
class Subject:
    name: str
    params: StdioServerParameters | None
    problem: str = ""
    times: list[float] = field(default_factory=list)
    tools: int = 0
    version: str = ""
    stdout_noise: int = 0


class _StdoutNoise(logging.Handler):
    """Counts lines a server wrote to stdout that are not MCP messages (the client skips them)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Failed to parse JSONRPC message" in record.getMessage():
            self.count += 1


NOISE = _StdoutNoise()


async def _once(params: StdioServerParameters) -> tuple[float, int]:
    with open(os.devnull, "w") as devnull:  # the servers' own logs are not our business
        started = time.perf_counter()
        with anyio.fail_after(START_TIMEOUT):
            async with Client(stdio_client(params, errlog=devnull), mode="legacy") as client:
                listed = await client.list_tools()
                elapsed = time.perf_counter() - started
    return elapsed, len(listed.tools)


def subjects(tmp: Path, peers: list[str]) -> list[Subject]:
    home = tmp / "nemo-home"
    floor = tmp / "floor_server.py"
    floor.write_text(FLOOR_STDIO)
    out = [
        Subject(
            "nemo-mcp",
            StdioServerParameters(
                command=sys.executable,
                args=["-m", "nemo_mcp", "serve"],
                env=clean_env(NEMO_MCP_HOME=str(home), NEMO_API_URL="http://127.0.0.1:9"),
            ),
        ),
        Subject(
            "SDK floor",
            StdioServerParameters(command=sys.executable, args=[str(floor)], env=clean_env()),
        ),
    ]
    for name in peers:
        got = install(name)
        if got.command is None:
            out.append(Subject(name, None, problem=got.problem))
            continue
        workdir = tmp / name
        workdir.mkdir(exist_ok=True)
        params = StdioServerParameters(
            command=got.command,
            args=[],
            env=clean_env(**peer_env(got.peer, workdir)),
            cwd=str(workdir),
        )
        out.append(Subject(name, params, version=got.version))
    return out


def _compile_ours() -> None:
    """Write nemo-mcp's bytecode (``__pycache__``), as installing it would."""
    compileall.compile_dir(Path(nemo_mcp.__file__).parent, quiet=1)


def run(runs: int = 7, peers: list[str] | None = None) -> list[Row]:
    peers = list(peers or [])
    _compile_ours()
    stdio_log = logging.getLogger("mcp.client.stdio")
    stdio_log.addHandler(NOISE)
    stdio_log.propagate = False
    with tempfile.TemporaryDirectory(prefix="nemo-bench-cold-") as raw:
        subs = subjects(Path(raw), peers)
        live = [s for s in subs if s.params is not None]
        for n in range(runs):
            order = live[n % len(live) :] + live[: n % len(live)]
            for s in order:
                if s.problem:
                    continue
                assert s.params is not None
                noise = NOISE.count
                try:
                    seconds, tools = anyio.run(_once, s.params)
                except Exception as err:  # a peer that does not start is reported, not fatal
                    s.problem = f"did not answer tools/list: {type(err).__name__}: {err}"[:200]
                    continue
                s.times.append(seconds)
                s.tools = tools
                s.stdout_noise += NOISE.count - noise
            say(f"cold start: run {n + 1}/{runs} done")
    floor = next(s for s in subs if s.name == "SDK floor")
    base = median(floor.times)
    ours = next(s for s in subs if s.name == "nemo-mcp")
    peer_medians = [median(s.times) for s in subs if s not in (floor, ours) and s.times]
    ahead = bool(ours.times) and all(median(ours.times) < p for p in peer_medians)
    rows = []
    for s in subs:
        label = s.name + (f" {s.version}" if s.version else "")
        if s.problem or not s.times:
            rows.append(
                Row(
                    "Cold start: spawn to first tools/list (stdio)",
                    label,
                    "n/a",
                    notes=f"not measured: {s.problem or 'no run succeeded'}",
                )
            )
            continue
        value = median(s.times)
        rows.append(
            Row(
                "Cold start: spawn to first tools/list (stdio)",
                label,
                ms(value),
                baseline=f"SDK floor {ms(base)}" if s is not floor else "-",
                ratio=value / base if s is not floor else None,
                notes=f"{s.tools} tool{'s' if s.tools != 1 else ''}; N={len(s.times)}, range "
                f"{ms(min(s.times))}"
                f"-{ms(max(s.times))}"
                + ("; writes non-MCP text to stdout" if s.stdout_noise else ""),
                data={"times": s.times, "tools": s.tools},
                goal=GOAL if s is ours else None,
                also="ahead of every peer" if s is ours and peer_medians else "",
                also_met=ahead,
            )
        )
    return rows
