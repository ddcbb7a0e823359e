"""The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in tests/node)
against ``nemo-mcp serve --http``, for its protocol-generic server scenarios.

Most of the suite's scenarios call tools of its own reference server (``test_simple_text``,
``test://template/{id}/data``, ...) and say nothing about another server; the ones below apply
to any server. Every check must pass, except checks the suite itself marks untestable because
they need one of its diagnostic tools (listed in ``FIXTURE_ONLY`` with the tool they need).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nemo_server_helpers import Folders
from node_clients import CONFORMANCE, NEED_NODE_22, SERVE, node, package_bin

from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from support.emulator import FAST
from support.processes import clean_env, free_port

SCENARIOS = (
    # 2025-era generic scenarios
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "completion-complete",
    "dns-rebinding-protection",
    # 2026-07-28 generic scenarios (tools-call-error calls the suite's own test_error_handling
    # tool: against nemo-mcp it checks that an unknown tool comes back as a readable isError)
    "tools-call-error",
    "http-header-validation",
    "caching",
    "sep-2164-resource-not-found",
    "server-stateless",
)

# Checks that need the suite's diagnostic tool ``test_missing_capability`` (one that requires
# the sampling capability). nemo-mcp has no such tool, and answers a call to an unknown tool with
# a readable error result (the SDK's choice, which tools-call-error expects); the suite counts
# any result as "executed". Accepted only in exactly that situation.
FIXTURE_ONLY = (
    "sep-2575-server-rejects-undeclared-capability",
    "sep-2575-missing-capability-http-400",
)
FIXTURE_TOOL = "test_missing_capability"


def fixture_only(check: dict[str, Any]) -> bool:
    if check["id"] not in FIXTURE_ONLY:
        return False
    details = check.get("details") or {}
    if details.get("untestable"):
        return True
    result = (details.get("response") or {}).get("result") or {}
    texts = [c.get("text", "") for c in result.get("content", [])]
    return result.get("isError") is True and any(
        f'There is no tool named "{FIXTURE_TOOL}"' in t for t in texts
    )


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``nemo-mcp serve --http`` on a free loopback port, against its own emulator."""
    package_bin(*CONFORMANCE)
    root = tmp_path_factory.mktemp("conformance")
    media = root / "media"
    media.mkdir()
    song = synth.make_song(media / "song.mp3", 3.0, bpm=120)
    folders = Folders(root=root, home=root / "state", out=root / "out", media=media, song=song)
    port = free_port()
    with EmulatorServer(**FAST) as emu:
        log = (root / "serve.log").open("w")
        proc = subprocess.Popen(
            [*SERVE, "--http", "--port", str(port)],
            env=clean_env(folders.env(emu.url)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert proc.poll() is None, (root / "serve.log").read_text()
                    assert time.monotonic() < deadline, "nemo-mcp serve --http did not start"
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()


def run_scenario(url: str, scenario: str, out: Path) -> list[dict[str, Any]]:
    """Run one scenario; its checks as the suite wrote them (checks.json)."""
    binary = package_bin(*CONFORMANCE)
    proc = subprocess.run(
        [
            node(NEED_NODE_22),
            str(binary),
            "server",
            "--url",
            url,
            "--scenario",
            scenario,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=clean_env({}),
    )
    found = sorted(out.glob(f"server-{scenario}-*/checks.json"))
    assert found, f"no results for {scenario} (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
    checks: list[dict[str, Any]] = json.loads(found[-1].read_text())
    return checks


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_conformance(http_server: str, scenario: str, tmp_path: Path) -> None:
    checks = run_scenario(http_server, scenario, tmp_path)
    assert checks, scenario
    failed = [c for c in checks if c["status"] == "FAILURE" and not fixture_only(c)]
    assert not failed, json.dumps(failed, indent=1)[:4000]
    passed = [c for c in checks if c["status"] == "SUCCESS"]
    assert passed, scenario
