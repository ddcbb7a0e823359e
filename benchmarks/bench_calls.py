"""Tool-call overhead: ``nemo_get_credits`` through MCP versus the same request made directly.

Against the emulator (in its own process), interleaved call by call:

- in-memory: an MCP ``Client`` on ``build_server(...)`` in this process (JSON-RPC over memory
  streams, legacy handshake);
- stdio: an MCP ``Client`` (the Python SDK's) on ``python -m nemo_mcp serve``;
- stdio, minimal client: the least any client must do on stdio (write the request as one line,
  read lines until its answer, ``json.loads`` it), on a second ``python -m nemo_mcp serve``:
  what the server and the pipes add, without the Python SDK client's own work (its pydantic
  models and per-call output-schema validation, about a millisecond here, which hosts built
  on other SDKs do not pay). The goal is measured on this one;
- the SDK's floor: the same minimal client on a bare ``MCPServer`` whose one tool does nothing
  (the cold-start benchmark's floor server): what any tool call costs on this SDK over stdio
  before it does any work, shown beside the goal row;
- baseline: ``GET /api/credits/balance/simple`` with httpx, the same headers (token, X-Skill-*,
  User-Agent), on a kept-alive connection.

The ratio is the median tool call over the median direct request: what MCP, the studio and the
result formatting add to one cheap API call.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from benchmarks.common import (
    FLOOR_LABEL,
    FLOOR_STDIO,
    Row,
    clean_env,
    emulator,
    median,
    ms,
    percentile,
    say,
)
from nemo_mcp import __version__
from nemo_mcp.config import Settings
from nemo_mcp.contract import headers, paths
from nemo_mcp.mcp.server import build_server
from nemo_mcp.store.sqlite import SQLiteStore

WARMUP = 10


class LineClient:
    """A minimal MCP client on a server's stdio: one JSON-RPC message per line."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._in, self._out = process.stdin, BufferedByteReceiveStream(process.stdout)
        self._next = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self._in.send(json.dumps(message).encode() + b"\n")

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next += 1
        await self.send({"jsonrpc": "2.0", "id": self._next, "method": method, "params": params})
        while True:
            message = json.loads(await self._out.receive_until(b"\n", 64 * 1024 * 1024))
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]  # type: ignore[no-any-return]

    async def start(self) -> None:
        await self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "bench-line-client", "version": "1"},
            },
        )
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        await self.request("tools/list", {})


async def _measure(calls: int, url: str, home: Path) -> dict[str, list[float]]:
    env = {"NEMO_API_URL": url, "NEMO_MCP_HOME": str(home), "NEMO_MCP_OUTPUT_DIR": str(home)}
    settings = Settings.from_env(env)
    stdio = StdioServerParameters(
        command=sys.executable, args=["-m", "nemo_mcp", "serve"], env=clean_env(**env)
    )
    floor_script = home.parent / "floor_server.py"
    floor_script.write_text(FLOOR_STDIO)
    with open(os.devnull, "w") as devnull:
        async with (
            Client(build_server(settings), mode="legacy") as memory,
            Client(stdio_client(stdio, errlog=devnull), mode="legacy") as piped,
            await anyio.open_process(
                [sys.executable, "-m", "nemo_mcp", "serve"], env=stdio.env, stderr=devnull
            ) as process,
            await anyio.open_process(
                [sys.executable, str(floor_script)], env=clean_env(), stderr=devnull
            ) as floor_process,
        ):
            lines = LineClient(process)
            await lines.start()
            floor = LineClient(floor_process)
            await floor.start()
            first = await memory.call_tool("nemo_get_credits", {})  # gets the token
            assert not first.is_error, first
            cred = SQLiteStore(home).load_credential(url)
            assert cred is not None
            sent = {
                **headers.bearer(cred.token),
                "User-Agent": f"nemo-mcp/{__version__}",
                **headers.attribution("nemo-mcp", __version__, "mcp"),
            }
            async with httpx.AsyncClient(base_url=url, headers=sent, trust_env=False) as http:

                async def direct() -> None:
                    r = await http.get(paths.CREDITS)
                    r.raise_for_status()

                async def in_memory() -> None:
                    r = await memory.call_tool("nemo_get_credits", {})
                    assert not r.is_error

                async def over_stdio() -> None:
                    r = await piped.call_tool("nemo_get_credits", {})
                    assert not r.is_error

                async def minimal() -> None:
                    r = await lines.request("tools/call", {"name": "nemo_get_credits"})
                    assert not r.get("isError"), r

                async def sdk_floor() -> None:
                    r = await floor.request("tools/call", {"name": "ping"})
                    assert not r.get("isError"), r

                subjects: dict[str, Callable[[], Awaitable[None]]] = {
                    "direct": direct,
                    "memory": in_memory,
                    "stdio": over_stdio,
                    "lines": minimal,
                    "floor": sdk_floor,
                }
                times: dict[str, list[float]] = {k: [] for k in subjects}
                for n in range(WARMUP + calls):
                    names = list(subjects)
                    names = names[n % len(names) :] + names[: n % len(names)]
                    for name in names:
                        started = time.perf_counter()
                        await subjects[name]()
                        if n >= WARMUP:
                            times[name].append(time.perf_counter() - started)
                    if (n + 1) % 100 == 0:
                        say(f"tool calls: {n + 1}/{WARMUP + calls}")
    return times


def run(calls: int = 300) -> list[Row]:
    with emulator() as url, tempfile.TemporaryDirectory(prefix="nemo-bench-calls-") as raw:
        times = anyio.run(_measure, calls, url, Path(raw) / "home")
    base = median(times["direct"])
    rows = []
    for key, label in (
        ("memory", "in-memory MCP client (Python SDK)"),
        ("stdio", "stdio MCP client (Python SDK)"),
        ("lines", "stdio, minimal JSON-RPC client"),
    ):
        value = median(times[key])
        rows.append(
            Row(
                "Tool-call overhead: nemo_get_credits vs the same GET",
                f"nemo-mcp, {label}",
                ms(value),
                baseline=f"httpx direct {ms(base)}",
                ratio=value / base,
                notes=f"{calls} calls each, interleaved; p99 {ms(percentile(times[key], 99))}"
                f" (direct p99 {ms(percentile(times['direct'], 99))})",
                data={"median_s": value, "baseline_s": base},
                goal=1.5 if key == "lines" else None,
            )
        )
    floor = median(times["floor"])
    added = median(times["lines"]) - base
    rows.append(
        Row(
            "Tool-call overhead: nemo_get_credits vs the same GET",
            f"{FLOOR_LABEL}, minimal stdio client",
            ms(floor),
            baseline=f"httpx direct {ms(base)}",
            ratio=floor / base,
            notes=f"{calls} calls, interleaved with the others; p99 "
            f"{ms(percentile(times['floor'], 99))}. What nemo-mcp adds to the GET over stdio "
            f"(minimal client's median minus the direct median): {ms(added)}, "
            f"{added / floor:.2f}x this empty call",
            data={"median_s": floor, "baseline_s": base, "added_s": added},
        )
    )
    return rows
