"""Concurrency: many MCP clients over streamable HTTP calling tools at the same time.

``nemo-mcp serve --http`` (stateless, SSE responses) on a free loopback port, in front of the
emulator (its own process). C clients connect, wait at a barrier, then each makes K calls
alternating ``nemo_get_credits`` and ``nemo_get_state``. Reported: throughput (calls/s over the
wall time of the burst) and p50/p99 latency per call.

Baseline, same run: the same number of requests, with the same concurrency, made directly with
httpx to the two API endpoints the tools call (``GET /api/credits/balance/simple`` and
``GET /api/state/.../latest``) with the server's own token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx
from mcp import Client

from benchmarks.common import (
    Row,
    attribution,
    clean_env,
    emulator,
    free_port,
    ms,
    percentile,
    say,
    wait_for_port,
)
from nemo_mcp.contract import paths
from nemo_mcp.store.sqlite import SQLiteStore


async def _burst(
    clients: int, per_client: int, call: Callable[[int, int], Awaitable[None]]
) -> tuple[list[float], float]:
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
        await anyio.sleep(0.05)
        started = time.perf_counter()
        start.set()
    return latencies, time.perf_counter() - started


async def _mcp(url: str, clients: int, per_client: int) -> tuple[list[float], float]:
    async with Client(url) as warm:  # first calls: the token and the session
        for name in ("nemo_get_credits", "nemo_new_session", "nemo_get_state"):
            r = await warm.call_tool(name, {})
            assert not r.is_error, r
    opened: list[Client] = []
    try:
        for _ in range(clients):
            client = Client(url)
            await client.__aenter__()
            opened.append(client)

        async def call(c: int, k: int) -> None:
            name = "nemo_get_credits" if (c + k) % 2 == 0 else "nemo_get_state"
            r = await opened[c].call_tool(name, {})
            assert not r.is_error, r

        return await _burst(clients, per_client, call)
    finally:
        for client in reversed(opened):
            await client.__aexit__(None, None, None)


async def _direct(
    api: str, token: str, session: str, clients: int, per_client: int
) -> tuple[list[float], float]:
    headers = {"Authorization": f"Bearer {token}", **attribution()}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(
        base_url=api, headers=headers, limits=limits, trust_env=False
    ) as http:
        for path in (paths.CREDITS, paths.fill(paths.STATE, session_id=session)):
            (await http.get(path)).raise_for_status()

        async def call(c: int, k: int) -> None:
            path = (
                paths.CREDITS if (c + k) % 2 == 0 else paths.fill(paths.STATE, session_id=session)
            )
            (await http.get(path)).raise_for_status()

        return await _burst(clients, per_client, call)


def run(clients: int = 16, per_client: int = 20) -> list[Row]:
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
            lat, wall = anyio.run(_mcp, url, clients, per_client)
            say(f"concurrency: {len(lat)} MCP calls in {wall:.2f} s")
            with SQLiteStore(home) as store:
                cred = store.load_credential(api)
                current = store.current_session(api)
            assert cred is not None and current is not None
            base_lat, base_wall = anyio.run(
                _direct, api, cred.token, current.session_id, clients, per_client
            )
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
    total = clients * per_client
    rows = []
    for what, ours, theirs in (
        ("p50 latency", percentile(lat, 50), percentile(base_lat, 50)),
        ("p99 latency", percentile(lat, 99), percentile(base_lat, 99)),
    ):
        rows.append(
            Row(
                f"Concurrency: {clients} MCP clients x {per_client} calls (HTTP, stateless)",
                f"nemo-mcp serve --http, {what}",
                ms(ours),
                baseline=f"httpx direct, {clients} at once: {ms(theirs)}",
                ratio=ours / theirs,
                notes="nemo_get_credits and nemo_get_state alternating",
            )
        )
    rate, base_rate = total / wall, total / base_wall
    rows.append(
        Row(
            f"Concurrency: {clients} MCP clients x {per_client} calls (HTTP, stateless)",
            "nemo-mcp serve --http, throughput",
            f"{rate:,.0f} calls/s",
            baseline=f"httpx direct: {base_rate:,.0f} requests/s",
            ratio=base_rate / rate,
            notes=f"{total} calls; ratio = how many times more requests/s the API alone serves",
            data={"latencies": lat, "baseline_latencies": base_lat},
        )
    )
    return rows
