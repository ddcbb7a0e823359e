"""Hosted workers for tests: real ``nemo-mcp serve --http --hosted`` processes on one PostgreSQL
schema, in front of one emulator, and NemoVideo tokens for as many users as a test needs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nemo_mcp.contract import headers, paths
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.store.sealing import TokenSealer
from support.postgres import pg_schema
from support.processes import clean_env, free_port

START_TIMEOUT = 45.0


def user_token(emu: EmulatorServer) -> str:
    """A new NemoVideo user's token (an anonymous one, with the emulator's credits)."""
    answer = httpx.post(
        emu.url + paths.ANON_TOKEN,
        headers={headers.CLIENT_ID: str(uuid.uuid4())},
        timeout=10,
        trust_env=False,
    )
    answer.raise_for_status()
    return str(answer.json()["data"]["token"])


@dataclass
class Worker:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """kill -9: no shutdown, no lease handed back."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Cluster:
    emu: EmulatorServer
    database_url: str
    key: str
    root: Path
    env: dict[str, str]
    workers: list[Worker] = field(default_factory=list)

    def start(self, name: str, **extra: str) -> Worker:
        port = free_port()
        log = self.root / f"{name}.log"
        env = clean_env({**self.env, **extra})
        command = [sys.executable, "-m", "nemo_mcp", "serve", "--http", "--hosted"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*command, "--port", str(port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(name, port, proc, log)
        self.workers.append(worker)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited early:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return worker
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"worker {name} did not listen within {START_TIMEOUT} s")

    def logs(self) -> str:
        return "\n".join(w.log.read_text(errors="replace") for w in self.workers)


@contextmanager
def cluster(root: Path, emu: EmulatorServer, **env: str) -> Iterator[Cluster]:
    """Workers share one fresh PostgreSQL schema and the emulator; all stopped afterwards."""
    key = TokenSealer.new_key()
    with pg_schema() as url:
        base = {
            "NEMO_API_URL": emu.url,
            "NEMO_MCP_HOME": str(root / "home"),  # never written in hosted mode
            "NEMO_MCP_DATABASE_URL": url,
            "NEMO_MCP_TOKEN_KEY": key,
            "NEMO_MCP_SWEEP_SECONDS": "0.5",
            "NEMO_MCP_RENDER_POLL_SECONDS": "0.2",
            "NEMO_MCP_WAIT_SECONDS": "30",
            "NEMO_MCP_LOG_LEVEL": "INFO",
            **env,
        }
        group = Cluster(emu, url, key, root, base)
        try:
            yield group
        finally:
            for worker in group.workers:
                worker.stop()


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}


def user_client(url: str, token: str | None, mode: str = "auto") -> Any:
    """An MCP client (the SDK's) that sends ``token`` as its bearer on every request; ``mode``
    "legacy" speaks the handshake era, as TypeScript-SDK hosts do."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers=bearer(token) if token else None)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


@contextmanager
def media_server(folder: Path) -> Iterator[str]:
    """The files of ``folder`` over HTTP on loopback (where users' media lives, for URL
    uploads); yields the base URL."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
