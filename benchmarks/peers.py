"""Peer MCP servers from PyPI, each in its own virtual environment under ``.bench-cache/peers``.

Installed with pip on first use (nothing here is a dependency of nemo-mcp). A peer that cannot
be installed or started is reported with the reason instead of failing the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import CACHE, say

PIP_TIMEOUT = 900.0


@dataclass(frozen=True)
class Peer:
    package: str  # PyPI name
    script: str  # console script that serves MCP over stdio
    env: dict[str, str] = field(default_factory=dict)  # dummy keys so it starts


PEERS: dict[str, Peer] = {
    "elevenlabs-mcp": Peer(
        "elevenlabs-mcp",
        "elevenlabs-mcp",
        {"ELEVENLABS_API_KEY": "sk_dummy_benchmark_key", "ELEVENLABS_MCP_BASE_PATH": "{tmp}"},
    ),
    "minimax-mcp": Peer(
        "minimax-mcp",
        "minimax-mcp",
        {
            "MINIMAX_API_KEY": "dummy-benchmark-key",
            "MINIMAX_API_HOST": "https://api.minimax.io",
            "MINIMAX_MCP_BASE_PATH": "{tmp}",
            "MINIMAX_API_RESOURCE_MODE": "local",
        },
    ),
}


@dataclass
class Installed:
    peer: Peer
    command: str | None
    version: str = ""
    problem: str = ""


def _bin(folder: Path, name: str) -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return folder / sub / f"{name}{suffix}"


def install(name: str) -> Installed:
    """The peer's console script, installing it first if needed; or why it is unavailable."""
    peer = PEERS.get(name) or Peer(name, name)
    folder = CACHE / "peers" / name
    python = _bin(folder, "python")
    script = _bin(folder, peer.script)
    marker = folder / ".installed"
    try:
        if not (marker.exists() and script.exists()):
            say(f"installing {name} into {folder.relative_to(CACHE.parent)} (first use)...")
            if not python.exists():
                venv.EnvBuilder(with_pip=True, clear=True).create(folder)
            pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            done = subprocess.run(
                [*pip, name],
                capture_output=True,
                text=True,
                timeout=PIP_TIMEOUT,
            )
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
                return Installed(peer, None, problem=f"pip install failed: {last[:160]}")
            if not script.exists():
                return Installed(peer, None, problem=f"no `{peer.script}` script after install")
            marker.write_text("ok\n")
        version = subprocess.run(
            [str(python), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        return Installed(peer, str(script), version=version)
    except (OSError, subprocess.SubprocessError) as err:
        return Installed(peer, None, problem=f"{type(err).__name__}: {str(err)[:160]}")


def peer_env(peer: Peer, tmp: Path) -> dict[str, str]:
    return {k: v.replace("{tmp}", str(tmp)) for k, v in peer.env.items()}


if __name__ == "__main__":
    for arg in sys.argv[1:] or list(PEERS):
        got = install(arg)
        print(arg, got.command or got.problem, got.version)
