"""Concurrency: many MCP clients over streamable HTTP calling tools at the same time.

``nemo-mcp serve --http`` (stateless, SSE responses) on a free loopback port, in front of the
emulator (its own process). C clients connect and each calls both tools once (its first call of
a tool lists the tools and compiles the tool's output schema: the client SDK's one-time work per
session), then in each round they wait at a barrier and each makes K calls alternating
``nemo_get_credits`` and ``nemo_get_state``. Reported: throughput (calls/s over the wall time of
the burst) and p50/p99 latency per call, medians over the rounds, with their ranges.

Baseline, same run, in the same rounds (the order alternates): the same number of requests, with
the same concurrency, made directly with httpx to the two API endpoints the tools call
(``GET /api/credits/balance/simple`` and ``GET /api/state/.../latest``) with the server's own
token. Memory: the server's peak RSS once warmed up (idle) and after the rounds (under load).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client

from benchmarks.common import (
    Row,
    attribution,
    burst,
    clean_env,
    emulator,
    free_port,
    median,
    ms,
    percentile,
    say,
    spread,
    wait_for_port,
)
from nemo_mcp.contract import paths
from nemo_mcp.store.sqlite import SQLiteStore


def _cpu_seconds(pid: int) -> float | None:
    """A process's CPU time so far (Linux ``/proc``), or None where that is not known."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _peak_rss_mb(pid: int) -> float | None:
    """A process's peak resident memory (Linux ``VmHWM``), or None where that is not known."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


async def _rounds(
    url: str, api: str, home: Path, pid: int, clients: int, per_client: int, rounds: int
) -> dict[str, Any]:
    """Warm up, then interleaved rounds: a burst of MCP calls, a burst of direct requests."""
    async with Client(url) as warm:  # first calls: the token and the session
        for name in ("nemo_get_credits", "nemo_new_session", "nemo_get_state"):
            r = await warm.call_tool(name, {})
            assert not r.is_error, r
    idle_mb = _peak_rss_mb(pid)
    with SQLiteStore(home) as store:
        cred = store.load_credential(api)
        current = store.current_session(api)
    assert cred is not None and current is not None
    state_path = paths.fill(paths.STATE, session_id=current.session_id)
    headers = {"Authorization": f"Bearer {cred.token}", **attribution()}
    out: dict[str, Any] = {"mcp": [], "direct": [], "idle_mb": idle_mb, "cpu": []}
    opened: list[Client] = []
    limits = httpx.Limits(max_connections=clients)
    try:
        async with httpx.AsyncClient(
            base_url=api, headers=headers, limits=limits, trust_env=False
        ) as http:
            for _ in range(clients):
                client = Client(url)
                await client.__aenter__()
                opened.append(client)
                # each client lists the tools and compiles their output schemas on its first
                # call of each (the client SDK's one-time work per session, not the server's)
                for name in ("nemo_get_credits", "nemo_get_state"):
                    assert not (await client.call_tool(name, {})).is_error
            for path in (paths.CREDITS, state_path):
                (await http.get(path)).raise_for_status()

            async def mcp_call(c: int, k: int) -> None:
                name = "nemo_get_credits" if (c + k) % 2 == 0 else "nemo_get_state"
                r = await opened[c].call_tool(name, {})
                assert not r.is_error, r

            async def direct_call(c: int, k: int) -> None:
                (
                    await http.get(paths.CREDITS if (c + k) % 2 == 0 else state_path)
                ).raise_for_status()

            for n in range(rounds):
                order = ("mcp", "direct") if n % 2 == 0 else ("direct", "mcp")
                for who in order:
                    call = mcp_call if who == "mcp" else direct_call
                    server_before, here_before = _cpu_seconds(pid), time.process_time()
                    out[who].append(await burst(clients, per_client, call))
                    server_after, here_after = _cpu_seconds(pid), time.process_time()
                    if who == "mcp" and server_before is not None and server_after is not None:
                        out["cpu"].append((server_after - server_before, here_after - here_before))
                say(f"concurrency: round {n + 1}/{rounds} done")
    finally:
        for client in reversed(opened):
            await client.__aexit__(None, None, None)
    out["load_mb"] = _peak_rss_mb(pid)
    return out


GOAL_P50 = 1.5
GOAL_THROUGHPUT = 1.5


def run(clients: int = 16, per_client: int = 20, rounds: int = 3) -> list[Row]:
    port = free_port()
    with (
        emulator() as api,
        tempfile.TemporaryDirectory(prefix="nemo-bench-http-") as raw,
        open(os.devnull, "w") as devnull,
    ):
        home = Path(raw) / "home"
        server = subprocess.Popen(
            [sys.executable, "-m", "nemo_mcp", "serve", "--http", "--port", str(port)],
            env=clean_env(NEMO_API_URL=api, NEMO_MCP_HOME=str(home)),
            stdout=devnull,
            stderr=devnull,
        )
        try:
            wait_for_port(port)
            url = f"http://127.0.0.1:{port}/mcp"
            got = anyio.run(_rounds, url, api, home, server.pid, clients, per_client, rounds)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
    total = clients * per_client
    title = f"Concurrency: {clients} MCP clients x {per_client} calls (HTTP, stateless)"
    mcp_rounds: list[tuple[list[float], float]] = got["mcp"]
    direct_rounds: list[tuple[list[float], float]] = got["direct"]
    rows = []
    for what, pct, goal in (("p50 latency", 50, GOAL_P50), ("p99 latency", 99, None)):
        ours = [percentile(lat, pct) for lat, _ in mcp_rounds]
        theirs = [percentile(lat, pct) for lat, _ in direct_rounds]
        rows.append(
            Row(
                title,
                f"nemo-mcp serve --http, {what}",
                ms(median(ours)),
                baseline=f"httpx direct, {clients} at once: {ms(median(theirs))}",
                ratio=median(ours) / median(theirs),
                notes=f"medians of {rounds} interleaved rounds; ours {spread(ours, ms)}, "
                f"direct {spread(theirs, ms)}; nemo_get_credits and nemo_get_state alternating",
                goal=goal,
            )
        )
    cpu = got["cpu"]
    cpu_note = (
        f"; CPU per call in the MCP rounds: server {median([c[0] for c in cpu]) / total * 1e3:.1f}"
        f" ms, the {clients} MCP clients (this process) "
        f"{median([c[1] for c in cpu]) / total * 1e3:.1f} ms"
        if cpu
        else ""
    )
    rates = [total / wall for _, wall in mcp_rounds]
    base_rates = [total / wall for _, wall in direct_rounds]
    rows.append(
        Row(
            title,
            "nemo-mcp serve --http, throughput",
            f"{median(rates):,.0f} calls/s",
            baseline=f"httpx direct: {median(base_rates):,.0f} requests/s",
            ratio=median(base_rates) / median(rates),
            notes=f"{total} calls a round; ratio = how many times more requests/s the API alone "
            f"serves; ours {spread(rates, _per_s)}, direct {spread(base_rates, _per_s)}" + cpu_note,
            data={"mcp": mcp_rounds, "direct": direct_rounds},
            goal=GOAL_THROUGHPUT,
        )
    )
    idle, load = got["idle_mb"], got["load_mb"]
    rows.append(
        Row(
            "Memory: nemo-mcp serve --http, peak RSS",
            "idle (after its first calls) / under the load above",
            "n/a" if idle is None or load is None else f"{idle:,.0f} MB / {load:,.0f} MB",
            notes="the server process's VmHWM (Linux)"
            if idle is not None
            else "not measured (needs /proc)",
            data={"idle_mb": idle, "load_mb": load},
        )
    )
    return rows


def _per_s(rate: float) -> str:
    return f"{rate:,.0f}/s"
