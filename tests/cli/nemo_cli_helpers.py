"""Helpers shared by the CLI tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemo_mcp.emulator import EmulatorServer
from support.processes import clean_env

REGISTERED_TOKEN = "nmv_usr_registered_cli_test_token"
MUSIC_VIDEO = "generate a music video clip synced to my song with matching visuals"


@dataclass
class Env:
    emu: EmulatorServer
    home: Path
    media: Path
    out: Path

    @property
    def vars(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "NEMO_MCP_HOME": str(self.home / "nemo-state"),
            "NEMO_API_URL": self.emu.url,
            "NEMO_MCP_ALLOWED_DIRS": str(self.media),
            "NEMO_MCP_OUTPUT_DIR": str(self.out),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
        }

    def song(self) -> Path:
        return self.media / "song.mp3"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        data = json.loads(self.out)
        assert isinstance(data, dict)
        return data


def process_env(env: Env, **extra: str) -> dict[str, str]:
    """This process's environment without any NEMO_/SKILL_ variable, plus the test's."""
    return clean_env(env.vars, **extra)


def run_subprocess(
    env: Env,
    *argv: str,
    stdin: str | None = None,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
    python_flags: tuple[str, ...] = (),
) -> Run:
    """``python -m nemo_mcp ...`` as a real process with only the test's environment."""
    proc = subprocess.run(
        [sys.executable, *python_flags, "-m", "nemo_mcp", *argv],
        env=process_env(env, **(extra_env or {})),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


RunFn = Callable[..., Run]
