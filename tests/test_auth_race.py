"""Real processes racing for an anonymous token against a real loopback HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = """
import sys
import anyio
import httpx
from nemo_mcp.api.auth import TokenProvider
from nemo_mcp.config import Settings
from nemo_mcp.store.sqlite import SQLiteStore

async def main() -> None:
    settings = Settings.from_env()
    store = SQLiteStore(settings.state_db)
    async with httpx.AsyncClient() as http:
        provider = TokenProvider(settings, store, http)
        print("ready", flush=True)
        sys.stdin.readline()  # every process starts asking at the same moment
        token = await provider.token()
    print("token=" + token + " client=" + provider.client_id(), flush=True)

anyio.run(main)
"""


class TokenServer:
    """Counts anonymous-token requests; each takes 0.5 s and hands out a distinct token."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/api/auth/anonymous-token":
                    self.send_error(404)
                    return
                with outer.lock:
                    outer.requests.append(self.headers.get("X-Client-Id", ""))
                    n = len(outer.requests)
                time.sleep(0.5)
                body = json.dumps(
                    {"code": 0, "data": {"token": f"nmv_usr_race{n:04d}", "user_id": f"anon_{n}"}}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TokenServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    with TokenServer() as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 3])
def test_processes_starting_together_request_one_token(
    token_server: TokenServer, tmp_path: Path, processes: int
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "NEMO_API_URL": token_server.url,
        "NEMO_MCP_HOME": str(tmp_path / "shared-state"),
    }
    env.pop("NEMO_TOKEN", None)
    env.pop("NEMO_CLIENT_ID", None)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CHILD)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            assert line == "ready", child.stderr.read() if child.stderr else line
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            results.append(out.strip().splitlines()[-1])
    finally:
        for child in children:
            child.kill()
            child.wait(10)
    assert len(token_server.requests) == 1, token_server.requests
    assert len(set(results)) == 1, results  # same token, same client id everywhere
    assert results[0].startswith("token=nmv_usr_race0001 client=")
