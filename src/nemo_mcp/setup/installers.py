"""``nemo-mcp install``: add the MCP server to Claude Desktop, Cursor or Claude Code.

Every client keeps a JSON file with an ``mcpServers`` map (the files and shapes are listed in
the project's client notes and in ``manifests/clients``). Installing means:

- reading the file (a missing file is an empty configuration; a file that is not valid JSON, or
  whose ``mcpServers`` is not an object, is refused and left untouched);
- adding one entry, keeping every other key and server exactly as it was; an existing
  ``nemovideo`` / ``nemo-mcp`` entry is replaced only with ``force``;
- keeping a timestamped copy of the old file next to it, then writing the new one atomically
  (a temporary file in the same folder, flushed, then renamed over the old one).

No token is written unless the user passes one explicitly (``--env NEMO_TOKEN=...``).
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs

from nemo_mcp.config import ENV_SKILL, ENV_TOKEN
from nemo_mcp.errors import InvalidInputError
from nemo_mcp.files.partial import atomic_write

Client = Literal["claude-desktop", "cursor", "claude-code"]
Launcher = Literal["auto", "exe", "python", "uvx"]

CLIENTS: tuple[Client, ...] = ("claude-desktop", "cursor", "claude-code")
CLIENT_TITLES: dict[Client, str] = {
    "claude-desktop": "Claude Desktop",
    "cursor": "Cursor",
    "claude-code": "Claude Code",
}
DEFAULT_SERVER_NAME = "nemovideo"
# Names under which an earlier install (or a hand-written entry) of this server may exist.
OUR_NAMES = ("nemovideo", "nemo-mcp")
PACKAGE = "nemo-mcp"


# ------------------------------------------------------------------------------ the entry
def _exe_name(name: str) -> str:
    return f"{name}.exe" if os.name == "nt" else name


def _in_uv_cache(path: Path) -> bool:
    """True for an interpreter inside uv's cache (``uvx`` runs): it may vanish on a cache clean."""
    parts = [p.lower() for p in path.parts]
    return any(p in ("uv", ".uv") for p in parts) and any(
        p.startswith("archive-") or p in ("cache", ".cache", "builds-v0") for p in parts
    )


def find_executable() -> Path | None:
    """The ``nemo-mcp`` console script of this installation, as an absolute path, if any."""
    beside = Path(sys.executable).parent / _exe_name(PACKAGE)
    if beside.is_file():
        return beside.absolute()
    found = shutil.which(PACKAGE)
    return Path(found).absolute() if found else None


def server_entry(
    *,
    launcher: Launcher = "auto",
    env: Mapping[str, str] | None = None,
    portable: bool = False,
) -> dict[str, Any]:
    """The ``mcpServers`` entry that starts this server over stdio.

    ``auto`` prefers the absolute path of the ``nemo-mcp`` script of this installation (clients
    such as Claude Desktop start servers with a minimal PATH), then ``uvx`` when running from
    uv's cache (that environment is temporary), then this Python interpreter with
    ``-m nemo_mcp``. ``portable`` writes bare command names for documentation snippets.
    """
    entry_env = dict(env or {})
    if portable:
        return {"command": "uvx", "args": [PACKAGE, "serve"], "env": entry_env}
    chosen = launcher
    if chosen == "auto":
        if _in_uv_cache(Path(sys.executable)) and shutil.which("uvx"):
            chosen = "uvx"
        elif find_executable() is not None:
            chosen = "exe"
        else:
            chosen = "python"
    if chosen == "uvx":
        uvx = shutil.which("uvx")
        return {
            "command": str(Path(uvx).absolute()) if uvx else "uvx",
            "args": [PACKAGE, "serve"],
            "env": entry_env,
        }
    if chosen == "exe":
        exe = find_executable()
        if exe is None:
            raise InvalidInputError(
                "The nemo-mcp command was not found next to this Python or on PATH.",
                hint="Use --launcher python (runs `python -m nemo_mcp serve`) or --launcher uvx.",
            )
        return {"command": str(exe), "args": ["serve"], "env": entry_env}
    return {
        "command": str(Path(sys.executable).absolute()),
        "args": ["-m", "nemo_mcp", "serve"],
        "env": entry_env,
    }


def client_entry(client: Client, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry as a given client wants it (Claude Code also records the transport type)."""
    if client == "claude-code":
        return {"type": "stdio", **entry}
    return dict(entry)


def parse_env_pairs(pairs: Sequence[str], *, skill: str | None = None) -> dict[str, str]:
    """``KEY=VAL`` strings (from ``--env``) as a dict; ``skill`` adds ``NEMO_SKILL``."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").isalnum() or key[0].isdigit():
            raise InvalidInputError(
                f"{pair.split('=')[0][:40]!r} is not a KEY=VALUE pair.",
                hint="Pass environment variables as --env NAME=value.",
            )
        env[key] = value
    if skill:
        env[ENV_SKILL] = skill
    return env


# ------------------------------------------------------------------------ where the files are
def claude_desktop_config() -> Path:
    """macOS ``~/Library/Application Support/Claude``, Windows ``%APPDATA%\\Claude``; on Linux
    (no official app) ``$XDG_CONFIG_HOME/Claude`` (``~/.config/Claude``) is a best guess."""
    base = platformdirs.user_config_path("Claude", appauthor=False, roaming=True)
    return base / "claude_desktop_config.json"


def config_path(
    client: Client,
    *,
    project: bool = False,
    scope: Literal["user", "project"] = "user",
    cwd: Path | None = None,
) -> Path:
    cwd = cwd or Path.cwd()
    if client == "claude-desktop":
        return claude_desktop_config()
    if client == "cursor":
        return (cwd / ".cursor" / "mcp.json") if project else (Path.home() / ".cursor" / "mcp.json")
    return (cwd / ".mcp.json") if scope == "project" else (Path.home() / ".claude.json")


def location_note(client: Client, path: Path) -> str | None:
    if client == "claude-desktop" and sys.platform not in ("darwin", "win32"):
        return (
            "Claude Desktop is published for macOS and Windows; on Linux "
            f"{path} is a best guess (the path unofficial builds use)."
        )
    return None


# ------------------------------------------------------------------------------ the merge
@dataclass
class InstallPlan:
    client: Client
    path: Path
    name: str
    entry: dict[str, Any]
    existed: bool
    old_text: str
    new_text: str
    replaced: list[str] = field(default_factory=list)
    unchanged: bool = False
    warnings: list[str] = field(default_factory=list)
    backup: Path | None = None
    written: bool = False

    def diff(self) -> str:
        old = self.old_text.splitlines(keepends=True) if self.existed else []
        return "".join(
            difflib.unified_diff(
                old,
                self.new_text.splitlines(keepends=True),
                fromfile=str(self.path) if self.existed else "/dev/null",
                tofile=str(self.path),
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "file": str(self.path),
            "server_name": self.name,
            "entry": self.entry,
            "created_file": not self.existed,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "written": self.written,
            "backup": str(self.backup) if self.backup else None,
            "warnings": self.warnings,
        }


def _read_config(path: Path) -> tuple[bool, str, dict[str, Any]]:
    if not path.exists():
        return False, "", {}
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a regular file; nothing was changed.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"Cannot read {path}: {err}. Nothing was changed.") from err
    if not text.strip():
        return True, text, {}
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidInputError(
            f"{path} is not valid JSON ({err}); it was left untouched.",
            hint="Fix or move the file yourself (the client cannot read it either), then run "
            "the install again; `nemo-mcp install print` shows the entry to add by hand.",
        ) from err
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path} does not hold a JSON object; it was left untouched.",
            hint="Add the entry by hand; `nemo-mcp install print` shows it.",
        )
    return True, text, data


def plan_install(
    client: Client,
    path: Path,
    entry: Mapping[str, Any],
    *,
    name: str = DEFAULT_SERVER_NAME,
    force: bool = False,
) -> InstallPlan:
    """Work out the new file content; nothing is written."""
    existed, old_text, data = _read_config(path)
    servers = data.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise InvalidInputError(
            f'"mcpServers" in {path} is not a JSON object; the file was left untouched.',
            hint="Fix that key by hand, then run the install again.",
        )
    wanted = client_entry(client, entry)
    ours = [n for n in (name, *OUR_NAMES) if n in servers]
    ours = list(dict.fromkeys(ours))
    plan = InstallPlan(
        client=client,
        path=path,
        name=name,
        entry=wanted,
        existed=existed,
        old_text=old_text,
        new_text=old_text,
    )
    if ours == [name] and servers[name] == wanted:
        plan.unchanged = True
        return plan
    if ours and not force:
        listed = ", ".join(repr(n) for n in ours)
        raise InvalidInputError(
            f"{path} already has an MCP server named {listed}; nothing was changed.",
            hint="Pass --force to replace it (a backup of the file is kept), or --name to add "
            "this one under another name.",
            details={"existing": {n: servers[n] for n in ours}},
        )
    new_servers: dict[str, Any] = {}
    for key, value in servers.items():
        if key in ours:
            if key == name:
                new_servers[name] = wanted  # keep its position
            continue
        new_servers[key] = value
    if name not in new_servers:
        new_servers[name] = wanted
    plan.replaced = ours
    new_data = dict(data)
    new_data["mcpServers"] = new_servers
    plan.new_text = json.dumps(new_data, indent=2, ensure_ascii=False) + "\n"
    if ENV_TOKEN in wanted.get("env", {}):
        plan.warnings.append(
            f"NEMO_TOKEN is written in plain text into {path}. Anyone who can read that file "
            "can use your NemoVideo account; `nemo-mcp login` keeps it in the private state "
            "folder instead."
        )
    if note := location_note(client, path):
        plan.warnings.append(note)
    return plan


def _backup_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def apply_install(plan: InstallPlan) -> InstallPlan:
    """Back up the old file and write the new one. Idempotent for an unchanged plan."""
    if plan.unchanged:
        return plan
    mode: int | None = None
    if plan.existed:
        plan.backup = _backup_name(plan.path)
        shutil.copy2(plan.path, plan.backup)
        mode = stat.S_IMODE(plan.path.stat().st_mode)
    elif ENV_TOKEN in plan.entry.get("env", {}):
        mode = 0o600
    atomic_write(plan.path, plan.new_text, mode=mode)
    plan.written = True
    return plan


# ------------------------------------------------------------------------- doctor's view
@dataclass
class ClientStatus:
    client: Client
    path: Path
    exists: bool
    configured_as: list[str]
    problem: str | None = None
    command_missing: str | None = None


def _mentions_us(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    words = [str(entry.get("command", ""))]
    args = entry.get("args")
    if isinstance(args, list):
        words += [str(a) for a in args]
    return any(("nemo-mcp" in w or "nemo_mcp" in w) for w in words)


def client_status(client: Client, path: Path) -> ClientStatus:
    """Is nemo-mcp configured in this client's file, and does its command exist?"""
    status = ClientStatus(client=client, path=path, exists=path.is_file(), configured_as=[])
    if not status.exists:
        return status
    try:
        _, _, data = _read_config(path)
    except InvalidInputError as err:
        status.problem = err.message
        return status
    maps: list[dict[str, Any]] = []
    servers = data.get("mcpServers")
    if isinstance(servers, dict):
        maps.append(servers)
    projects = data.get("projects")  # Claude Code's local scope: projects.<path>.mcpServers
    if client == "claude-code" and isinstance(projects, dict):
        for proj in projects.values():
            if isinstance(proj, dict) and isinstance(proj.get("mcpServers"), dict):
                maps.append(proj["mcpServers"])
    for servers_map in maps:
        for key, entry in servers_map.items():
            if key in OUR_NAMES or _mentions_us(entry):
                status.configured_as.append(key)
                command = entry.get("command") if isinstance(entry, dict) else None
                if isinstance(command, str) and os.path.isabs(command):
                    if not Path(command).exists():
                        status.command_missing = command
                elif isinstance(command, str) and command and shutil.which(command) is None:
                    status.command_missing = command
    return status
