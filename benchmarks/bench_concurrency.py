"""Concurrency: many MCP clients over streamable HTTP calling tools at the same time.

``nemo-mcp serve --http`` (stateless, SSE responses) on a free loopback port, in front of the
emulator (its own process). C clients of each kind connect and call both tools once, then in
each round they wait at a barrier and each makes K calls alternating ``nemo_get_credits`` and
``nemo_get_state``. Reported: throughput (calls/s over the wall time of the burst) and p50/p99
latency per call, medians over the rounds, with their ranges. Two kinds of MCP client:

- minimal clients (the goals are judged on these): one POST per call with the handshake-era
  ``MCP-Protocol-Version`` header, as every TypeScript-SDK host sends after its ``initialize``,
  on a kept-alive connection each, the answer read from the event stream;
- the Python SDK's ``Client`` (2026-07-28 era; its first call of each tool lists the tools
  and compiles the tool's output schema: the client SDK's one-time work per session).

Beside them, the SDK's floor over HTTP: a bare ``MCPServer`` (stateless, event streams, on
uvicorn as ``serve --http`` runs) whose one tool does nothing, called by the same minimal
clients: what any server on this SDK costs per call before it does any work.

Baseline, same run, in the same rounds (the order rotates): the same number of requests, from
the same number of clients, each its own httpx client and connection, made directly to the
two API endpoints the tools call (``GET /api/credits/balance/simple`` and
``GET /api/state/.../latest``) with the server's own token. (One shared httpx pool for all of
them would halve the baseline's throughput: httpcore's pool serializes its bookkeeping, the
same finding behind the client's sharded transport, ``api/wire.py``.) Memory: the server's
peak RSS once warmed up (idle) and after the rounds (under load).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx
from mcp import Client

from benchmarks.common import (
    FLOOR_HTTP,
    FLOOR_LABEL,
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


class PostClient:
    """A minimal streamable-HTTP MCP client, as a TypeScript-SDK host speaks after its
    ``initialize``: each request one POST with ``MCP-Protocol-Version: 2025-11-25`` on its own
    kept-alive connection, the answer read from the event stream's last ``data:`` line."""

    HEADERS: ClassVar[dict[str, str]] = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }

    def __init__(self, url: str) -> None:
        self._url = url
        self._http = httpx.AsyncClient(headers=self.HEADERS, trust_env=False)
        self._next = 0

    async def call_tool(self, name: str) -> dict[str, Any]:
        self._next += 1
        body = {"jsonrpc": "2.0", "id": self._next, "method": "tools/call"}
        body["params"] = {"name": name, "arguments": {}}
        r = await self._http.post(self._url, content=json.dumps(body))
        r.raise_for_status()
        data = [line for line in r.text.splitlines() if line.startswith("data:")]
        answer: dict[str, Any] = json.loads(data[-1][5:] if data else r.text)
        assert answer.get("id") == self._next and not answer["result"].get("isError"), answer
        return answer

    async def aclose(self) -> None:
        await self._http.aclose()


# minimal MCP clients, Python SDK clients, the API directly, the SDK's floor (minimal clients)
SUBJECTS = ("mcp", "sdk", "direct", "floor")


async def _rounds(
    url: str,
    floor_url: str,
    api: str,
    home: Path,
    pid: int,
    clients: int,
    per_client: int,
    rounds: int,
) -> dict[str, Any]:
    """Warm up, then interleaved rounds: a burst of each subject, the order rotating."""
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
    out: dict[str, Any] = {k: [] for k in SUBJECTS} | {"idle_mb": idle_mb, "cpu": []}
    posts = [PostClient(url) for _ in range(clients)]
    floors = [PostClient(floor_url) for _ in range(clients)]
    direct = [
        httpx.AsyncClient(base_url=api, headers=headers, trust_env=False) for _ in range(clients)
    ]
    sdk: list[Client] = []
    try:
        for c in range(clients):
            client = Client(url)
            await client.__aenter__()
            sdk.append(client)
            # each client lists the tools and compiles their output schemas on its first
            # call of each (the client SDK's one-time work per session, not the server's)
            for name in ("nemo_get_credits", "nemo_get_state"):
                assert not (await client.call_tool(name, {})).is_error
                await posts[c].call_tool(name)
            for path in (paths.CREDITS, state_path):
                (await direct[c].get(path)).raise_for_status()
            await floors[c].call_tool("ping")

        def tool(c: int, k: int) -> str:
            return "nemo_get_credits" if (c + k) % 2 == 0 else "nemo_get_state"

        async def mcp_call(c: int, k: int) -> None:
            await posts[c].call_tool(tool(c, k))

        async def sdk_call(c: int, k: int) -> None:
            r = await sdk[c].call_tool(tool(c, k), {})
            assert not r.is_error, r

        async def direct_call(c: int, k: int) -> None:
            path = paths.CREDITS if (c + k) % 2 == 0 else state_path
            (await direct[c].get(path)).raise_for_status()

        async def floor_call(c: int, k: int) -> None:
            await floors[c].call_tool("ping")

        calls = {"mcp": mcp_call, "sdk": sdk_call, "direct": direct_call, "floor": floor_call}
        for n in range(rounds):
            for who in SUBJECTS[n % 4 :] + SUBJECTS[: n % 4]:
                server_before, here_before = _cpu_seconds(pid), time.process_time()
                out[who].append(await burst(clients, per_client, calls[who]))
                server_after, here_after = _cpu_seconds(pid), time.process_time()
                if who == "mcp" and server_before is not None and server_after is not None:
                    out["cpu"].append((server_after - server_before, here_after - here_before))
            say(f"concurrency: round {n + 1}/{rounds} done")
    finally:
        for client in reversed(sdk):
            await client.__aexit__(None, None, None)
        for post in (*posts, *floors):
            await post.aclose()
        for http in direct:
            await http.aclose()
    out["load_mb"] = _peak_rss_mb(pid)
    return out


GOAL_P50 = 1.5
SERVE = "nemo-mcp serve --http"  # the subject of the rows
GOAL_THROUGHPUT = 1.5


def run(clients: int = 16, per_client: int = 20, rounds: int = 3) -> list[Row]:
    port, floor_port = free_port(), free_port()
    with (
        emulator() as api,
        tempfile.TemporaryDirectory(prefix="nemo-bench-http-") as raw,
        open(os.devnull, "w") as devnull,
    ):
        home = Path(raw) / "home"
        floor_script = Path(raw) / "floor_http.py"
        floor_script.write_text(FLOOR_HTTP)
        servers = [
            subprocess.Popen(
                [sys.executable, "-m", "nemo_mcp", "serve", "--http", "--port", str(port)],
                env=clean_env(NEMO_API_URL=api, NEMO_MCP_HOME=str(home)),
                stdout=devnull,
                stderr=devnull,
            ),
            subprocess.Popen(
                [sys.executable, str(floor_script), str(floor_port)],
                env=clean_env(),
                stdout=devnull,
                stderr=devnull,
            ),
        ]
        try:
            wait_for_port(port)
            wait_for_port(floor_port)
            url, floor_url = (f"http://127.0.0.1:{p}/mcp" for p in (port, floor_port))
            got = anyio.run(
                _rounds, url, floor_url, api, home, servers[0].pid, clients, per_client, rounds
            )
        finally:
            for server in servers:
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
    base = f"httpx direct, {clients} clients"
    rows = []
    for what, pct, goal in (("p50 latency", 50, GOAL_P50), ("p99 latency", 99, None)):
        ours = [percentile(lat, pct) for lat, _ in mcp_rounds]
        theirs = [percentile(lat, pct) for lat, _ in direct_rounds]
        floor = median([percentile(lat, pct) for lat, _ in got["floor"]])
        rows.append(
            Row(
                title,
                f"{SERVE}, {what}",
                ms(median(ours)),
                baseline=f"{base}: {ms(median(theirs))}",
                ratio=median(ours) / median(theirs),
                notes=f"minimal clients (handshake era, as TypeScript-SDK hosts); medians of "
                f"{rounds} interleaved rounds; ours {spread(ours, ms)}, direct "
                f"{spread(theirs, ms)}; nemo_get_credits and nemo_get_state alternating; "
                f"{FLOOR_LABEL}: {ms(floor)}, {floor / median(theirs):.2f}x",
                goal=goal,
            )
        )
    cpu = got["cpu"]
    cpu_note = (
        f"; CPU per call: server {median([c[0] for c in cpu]) / total * 1e3:.1f} ms, the "
        f"{clients} clients (this process) {median([c[1] for c in cpu]) / total * 1e3:.1f} ms"
        if cpu
        else ""
    )
    base_rates = [total / wall for _, wall in direct_rounds]
    for key, subject, label, goal in (
        ("mcp", SERVE, "minimal clients (handshake era, as TypeScript-SDK hosts)", GOAL_THROUGHPUT),
        ("sdk", SERVE, "Python SDK clients (2026-07-28 era)", None),
        ("floor", FLOOR_LABEL, "minimal clients", None),
    ):
        rates = [total / wall for _, wall in got[key]]
        rows.append(
            Row(
                title,
                f"{subject}, throughput, {label}",
                f"{median(rates):,.0f} calls/s",
                baseline=f"{base}: {median(base_rates):,.0f} requests/s",
                ratio=median(base_rates) / median(rates),
                notes=f"{total} calls a round; ratio = how many times more requests/s the API "
                f"alone serves; {'floor' if key == 'floor' else 'ours'} "
                f"{spread(rates, _per_s)}, direct {spread(base_rates, _per_s)}"
                + (cpu_note if key == "mcp" else ""),
                data={key: got[key], "direct": direct_rounds},
                goal=goal,
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
