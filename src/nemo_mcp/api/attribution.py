"""The attribution headers, built once: which skill calls (``X-Skill-Source`` and
``X-Skill-Version``, from the active manifest or the running SKILL.md) and where it is installed
(``X-Skill-Platform``).

The platform is found in this order (first match wins):
1. ``SKILL_SOURCE`` in the environment;
2. the skill folder (``NEMO_SKILL_DIR``) and then the package's own install path, looked up in
   the table below: a ClawHub install has ``.clawhub/origin.json`` (legacy ``.clawdhub``) beside
   the skill or lives under ``~/.clawhub/``; ``~/.openclaw/`` is OpenClaw; ``~/.cursor/`` is
   Cursor; ``~/.claude/`` is Claude Code; ``~/.agents/skills`` and ``~/.codex/`` are shared
   agent-skill folders;
3. the host's environment markers (Cursor and Claude Code set variables in the processes they
   spawn);
4. ``unknown``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nemo_mcp.config import ENV_SKILL_SOURCE, Settings
from nemo_mcp.contract import headers
from nemo_mcp.manifest import SkillManifest, load_manifest, skill_identity

UNKNOWN = "unknown"

# (folder relative to the home directory, platform)
_HOME_LOCATIONS: tuple[tuple[str, str], ...] = (
    (".clawhub", "clawhub"),
    (".openclaw", "openclaw"),
    (".cursor", "cursor"),
    (".claude", "claude_code"),
    (".codex", "codex"),
    (".agents/skills", "agent_skills"),
)

# (environment variable, platform): markers set by hosts in the processes they spawn.
_ENV_MARKERS: tuple[tuple[str, str], ...] = (
    ("CURSOR_TRACE_ID", "cursor"),
    ("CURSOR_SESSION_ID", "cursor"),
    ("CLAUDECODE", "claude_code"),
    ("CLAUDE_CODE", "claude_code"),
    ("CLAUDE_CODE_ENTRYPOINT", "claude_code"),
    ("OPENCLAW_STATE_DIR", "openclaw"),
)


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def platform_from_path(path: Path, home: Path) -> str | None:
    """The platform a file or folder's location implies, or None."""
    path = path.expanduser().absolute()
    for parent in (path, *path.parents):
        if (parent / ".clawhub" / "origin.json").is_file() or (
            parent / ".clawdhub" / "origin.json"
        ).is_file():
            return "clawhub"
        if parent == home:
            break
    for rel, name in _HOME_LOCATIONS:
        if _is_within(path, home / rel):
            return name
    # workspace installs: <workspace>/.cursor/skills, <workspace>/.claude/skills
    parts = path.parts
    for marker, name in ((".cursor", "cursor"), (".claude", "claude_code")):
        if marker in parts:
            return name
    return None


def detect_platform(
    env: Mapping[str, str],
    *,
    skill_dir: Path | None = None,
    install_path: Path | None = None,
    home: Path | None = None,
) -> str:
    override = (env.get(ENV_SKILL_SOURCE) or "").strip()
    if override:
        return override
    home = (home or Path.home()).expanduser().absolute()
    for candidate in (skill_dir, install_path if install_path is not None else Path(__file__)):
        if candidate is not None and (found := platform_from_path(candidate, home)):
            return found
    for var, name in _ENV_MARKERS:
        if env.get(var):
            return name
    return UNKNOWN


@dataclass(frozen=True)
class Attribution:
    source: str  # the skill's name
    version: str
    platform: str

    def headers(self) -> dict[str, str]:
        return headers.attribution(self.source, self.version, self.platform)


def attribution_for(settings: Settings, manifest: SkillManifest | None = None) -> Attribution:
    """Who calls, for these settings (the active manifest unless one is given)."""
    manifest = manifest if manifest is not None else load_manifest(settings.skill)
    source, version = skill_identity(manifest, settings.skill_dir)
    platform = settings.skill_source_override or detect_platform(
        os.environ, skill_dir=settings.skill_dir
    )
    return Attribution(source, version, platform)
