"""Hosted mode: hosted workers under many concurrent MCP clients, and the store's cost per
operation on PostgreSQL against the embedded SQLite file.

Workers: ``nemo-mcp serve --http --hosted`` processes on one fresh PostgreSQL schema, in front
of the emulator (its own process). C clients, spread over U users (each with its own NemoVideo
token as bearer) and round-robin over the workers, each make K calls alternating
``nemo_get_credits`` and ``nemo_get_state``. Reported for 1 and 2 workers: throughput and p50/p99
latency; the 2-worker figures are also given as ratios to the 1-worker run (same run, same
machine). On a machine with few cores the emulator, the clients and the workers share them.

Store: N rounds of the operations a tool call makes (save a session, read it, record a render
with its lease, update it, list a session's renders, claim a chat turn), on SQLite (a file in a
temporary folder: the baseline) and on PostgreSQL (this machine's server); microseconds per
operation and the ratio PostgreSQL / SQLite.

The PostgreSQL server is ``NEMO_BENCH_DATABASE`` (default the local one, database ``test``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from benchmarks.common import Row, burst, clean_env, emulator, free_port, ms, percentile, say
from benchmarks.common import wait_for_port as _wait
from nemo_mcp.contract import headers, paths

SERVER = os.environ.get("NEMO_BENCH_DATABASE", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_schema() -> Iterator[str]:
    import psycopg

    name = f"bench_{secrets.token_hex(5)}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in SERVER else "?"
    try:
        yield f"{SERVER}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


# --- the store ------------------------------------------------------------------------------


def _store_rounds(store: Any, rounds: int) -> float:
    """Seconds per operation over ``rounds`` rounds of six operations."""
    from nemo_mcp.store.records import RenderRecord, SessionRecord, TurnRecord

    user = store.for_owner("bench")
    api = "http://api.bench"
    started = time.perf_counter()
    for i in range(rounds):
        sid = f"s{i}"
        user.save_session(SessionRecord(session_id=sid, task_id="t", api_url=api))
        user.get_session(sid)
        rec = RenderRecord(render_id=f"r{i}", session_id=sid, api_url=api, draft_digest="d")
        user.start_render(rec, worker="w", lease_seconds=15)
        user.update_render(f"r{i}", status="processing", progress=50.0)
        user.list_renders(sid)
        user.claim_turn(
            TurnRecord(turn_id=f"t{i}", session_id=sid, message_hash="h"),
            duplicate_after=0,
            lease_seconds=60,
        )
    return (time.perf_counter() - started) / (rounds * 6)


def store_rows(rounds: int) -> list[Row]:
    from nemo_mcp.store.postgres import PostgresStore
    from nemo_mcp.store.sqlite import SQLiteStore

    with (
        tempfile.TemporaryDirectory(prefix="nemo-bench-store-") as raw,
        SQLiteStore(Path(raw)) as lite,
    ):
        sqlite_s = _store_rounds(lite, rounds)
    with pg_schema() as url, PostgresStore(url) as pg:
        pg_s = _store_rounds(pg, rounds)
    say(f"store: SQLite {sqlite_s * 1e6:.0f} us/op, PostgreSQL {pg_s * 1e6:.0f} us/op")
    return [
        Row(
            f"Store: {rounds} rounds of 6 operations (session, render with lease, turn claim)",
            "PostgreSQL (local server, psycopg pool), per operation",
            f"{pg_s * 1e6:.0f} us",
            baseline=f"SQLite file: {sqlite_s * 1e6:.0f} us",
            ratio=pg_s / sqlite_s,
            notes="each operation a round trip (or a transaction) to the database",
        )
    ]


# --- the workers ----------------------------------------------------------------------------


def _token(api: str) -> str:
    r = httpx.post(
        api + paths.ANON_TOKEN, headers={headers.CLIENT_ID: str(uuid.uuid4())}, trust_env=False
    )
    r.raise_for_status()
    return str(r.json()["data"]["token"])


def _client(url: str, token: str) -> Any:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(url, http_client=http))


async def _burst(urls: list[str], tokens: list[str], clients: int, per_client: int) -> Any:
    sessions: dict[str, str] = {}
    for token in tokens:  # warm every worker for every user: the bearer check, a session
        for url in urls:
            async with _client(url, token) as warm:
                r = await warm.call_tool("nemo_get_credits", {})
                assert not r.is_error, r
                if token not in sessions:
                    r = await warm.call_tool("nemo_new_session", {})
                    assert not r.is_error, r
                    sessions[token] = str((r.structured_content or {})["session_id"])
    opened = []
    try:
        for c in range(clients):
            token = tokens[c % len(tokens)]
            client = _client(urls[c % len(urls)], token)
            await client.__aenter__()
            opened.append((client, sessions[token]))

        async def call(c: int, k: int) -> None:
            client, sid = opened[c]
            if (c + k) % 2 == 0:
                r = await client.call_tool("nemo_get_credits", {})
            else:
                r = await client.call_tool("nemo_get_state", {"session_id": sid})
            assert not r.is_error, r

        return await burst(clients, per_client, call)
    finally:
        for client, _ in reversed(opened):
            await client.__aexit__(None, None, None)


def _workers(n: int, api: str, url: str, key: str, log: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        port = free_port()
        env = clean_env(
            NEMO_API_URL=api,
            NEMO_MCP_DATABASE_URL=url,
            NEMO_MCP_TOKEN_KEY=key,
            NEMO_MCP_HOME=str(log.parent / f"home{i}"),
        )
        command = [sys.executable, "-m", "nemo_mcp", "serve", "--http", "--hosted"]
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [*command, "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc.port = port  # type: ignore[attr-defined]
        procs.append(proc)
    for proc in procs:
        _wait(proc.port)  # type: ignore[attr-defined]
    return procs


def worker_rows(clients: int, per_client: int, users: int) -> list[Row]:
    from nemo_mcp.store.sealing import TokenSealer

    results: dict[int, tuple[list[float], float]] = {}
    with emulator() as api, tempfile.TemporaryDirectory(prefix="nemo-bench-hosted-") as raw:
        tokens = [_token(api) for _ in range(users)]
        for n in (1, 2):
            with pg_schema() as url:
                procs = _workers(n, api, url, TokenSealer.new_key(), Path(raw) / "workers.log")
                try:
                    ports = [p.port for p in procs]  # type: ignore[attr-defined]
                    urls = [f"http://127.0.0.1:{port}/mcp" for port in ports]
                    results[n] = anyio.run(_burst, urls, tokens, clients, per_client)
                    wall = results[n][1]
                    say(f"hosted: {n} worker(s), {clients * per_client} calls in {wall:.2f} s")
                finally:
                    for p in procs:
                        p.terminate()
                    for p in procs:
                        try:
                            p.wait(20)
                        except subprocess.TimeoutExpired:
                            p.kill()
    total = clients * per_client
    name = f"Hosted: {clients} MCP clients x {per_client} calls, {users} users, PostgreSQL"
    rows = []
    (lat1, wall1), wall2 = results[1], results[2][1]
    for n, (lat, wall) in sorted(results.items()):
        base = n == 2
        rows.append(
            Row(
                name,
                f"{n} worker{'s' if n > 1 else ''}, throughput",
                f"{total / wall:,.0f} calls/s",
                baseline=f"1 worker: {total / wall1:,.0f} calls/s" if base else "-",
                ratio=(wall1 / wall2) if base else None,
                notes="ratio = 2-worker throughput / 1-worker" if base else "",
                data={"latencies": lat},
            )
        )
        for pct in (50, 99):
            ours, one = percentile(lat, pct), percentile(lat1, pct)
            rows.append(
                Row(
                    name,
                    f"{n} worker{'s' if n > 1 else ''}, p{pct} latency",
                    ms(ours),
                    baseline=f"1 worker: {ms(one)}" if base else "-",
                    ratio=(ours / one) if base else None,
                )
            )
    return rows


def run(clients: int = 32, per_client: int = 10, users: int = 4, rounds: int = 300) -> list[Row]:
    return store_rows(rounds) + worker_rows(clients, per_client, users)
