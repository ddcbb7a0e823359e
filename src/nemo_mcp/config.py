"""Configuration in one place: every environment variable the project reads is named here.

NEMO_API_URL           NemoVideo API base URL (default https://mega-api-prod.nemovideo.ai)
NEMO_WEB_URL           NemoVideo web app, for registration links (default https://nemovideo.com)
NEMO_TOKEN             a NemoVideo token; wins over the stored anonymous one
NEMO_CLIENT_ID         the X-Client-Id for anonymous tokens (default: a UUID created once)
SKILL_SOURCE           X-Skill-Platform override (default: detected from the install path)
NEMO_MCP_HOME          state folder: client id, token, sessions, jobs (platformdirs data dir)
NEMO_SKILL             active skill manifest, for X-Skill-Source/-Version (default: the
                       NEMO_SKILL_DIR folder's SKILL.md name when it names a manifest, else
                       nemo-mcp)
NEMO_SKILL_DIR         folder of the SKILL.md being run (attribution and platform)
NEMO_MCP_OUTPUT_DIR    where exports are downloaded (default <Downloads>/NemoVideo)
NEMO_MCP_ALLOWED_DIRS  folders uploads may read from, os.pathsep-separated (default: the
                       working directory and the user's media folders; never the disk root or
                       the home folder itself). Set but empty, an unfilled template or a
                       missing folder is an error, not the defaults (only the MCP bundle's own
                       placeholder for a blank optional field, ${user_config.media_dir},
                       means "not set").
NEMO_MCP_WAIT_SECONDS  how long a tool call waits before returning a job handle (default 45)
NEMO_MCP_LOG_LEVEL     stderr log level (default WARNING)
NEMO_MCP_DATABASE_URL  postgresql://... : keep state in PostgreSQL (hosted mode; default: the
                       SQLite file in the state folder)
NEMO_MCP_TOKEN_KEY     the key tokens are encrypted with at rest in PostgreSQL (a Fernet key)
NEMO_MCP_REDIS_URL     redis://... : job progress and resource updates cross hosted workers
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from nemo_mcp import constants
from nemo_mcp.contract import account
from nemo_mcp.files.roots import too_broad
from nemo_mcp.redact import register_secret

APP_DIR_NAME = "nemo-mcp"
DEFAULT_API_URL = "https://mega-api-prod.nemovideo.ai"
DEFAULT_WEB_URL = "https://nemovideo.com"
DEFAULT_SKILL = "nemo-mcp"

ENV_API_URL = "NEMO_API_URL"
ENV_WEB_URL = "NEMO_WEB_URL"
ENV_TOKEN = "NEMO_TOKEN"
ENV_CLIENT_ID = "NEMO_CLIENT_ID"
ENV_SKILL_SOURCE = "SKILL_SOURCE"
ENV_HOME = "NEMO_MCP_HOME"
ENV_SKILL = "NEMO_SKILL"
ENV_SKILL_DIR = "NEMO_SKILL_DIR"
ENV_OUTPUT_DIR = "NEMO_MCP_OUTPUT_DIR"
ENV_ALLOWED_DIRS = "NEMO_MCP_ALLOWED_DIRS"
ENV_WAIT_SECONDS = "NEMO_MCP_WAIT_SECONDS"
ENV_LOG_LEVEL = "NEMO_MCP_LOG_LEVEL"
ENV_DATABASE_URL = "NEMO_MCP_DATABASE_URL"
ENV_TOKEN_KEY = "NEMO_MCP_TOKEN_KEY"
ENV_REDIS_URL = "NEMO_MCP_REDIS_URL"


def _clean(value: str | None) -> str | None:
    """Strip whitespace; treat empty and unsubstituted templates (``${X}``, ``{{x}}``) as unset."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if (value.startswith("${") and value.endswith("}")) or (
        value.startswith("{{") and value.endswith("}}")
    ):
        return None
    return value


def default_home() -> Path:
    return platformdirs.user_data_path(APP_DIR_NAME, appauthor=False)


def default_output_dir() -> Path:
    return platformdirs.user_downloads_path() / "NemoVideo"


def default_allowed_dirs() -> tuple[Path, ...]:
    """The working directory and the user's media folders that exist, minus any too broad
    to allow (a server started in ``/`` or in the home folder does not allow all of it)."""
    candidates = [
        Path.cwd(),
        platformdirs.user_music_path(),
        platformdirs.user_videos_path(),
        platformdirs.user_pictures_path(),
        platformdirs.user_downloads_path(),
        platformdirs.user_desktop_path(),
        platformdirs.user_documents_path(),
    ]
    seen: list[Path] = []
    for c in candidates:
        try:
            real = c.resolve()
        except (OSError, RuntimeError):
            continue
        if real not in seen and real.is_dir() and too_broad(real) is None:
            seen.append(real)
    return tuple(seen)


_BUNDLE_PLACEHOLDER = re.compile(r"^\$\{user_config\.[A-Za-z0-9_]+\}$")


def _allowed_dirs(raw: str) -> tuple[tuple[Path, ...], str | None]:
    """``NEMO_MCP_ALLOWED_DIRS`` as folders, or a problem to refuse uploads with."""
    value = raw.strip()
    if _BUNDLE_PLACEHOLDER.match(value):  # an MCP bundle's optional field left blank
        return default_allowed_dirs(), None
    if not value:
        return (), f"{ENV_ALLOWED_DIRS} is set but empty."
    if _clean(value) is None:
        return (), f"{ENV_ALLOWED_DIRS} is an unfilled template ({value[:60]!r})."
    entries = [e.strip() for e in value.split(os.pathsep) if e.strip()]
    if not entries:
        return (), f"{ENV_ALLOWED_DIRS} names no folder ({value[:60]!r})."
    if any(_clean(e) is None or "${" in e for e in entries):
        return (), f"{ENV_ALLOWED_DIRS} has an unfilled template in it ({value[:120]!r})."
    return tuple(Path(e).expanduser().absolute() for e in entries), None


@dataclass(frozen=True)
class Settings:
    api_url: str = DEFAULT_API_URL
    web_url: str = DEFAULT_WEB_URL
    token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    skill_source_override: str | None = None
    home: Path = field(default_factory=default_home)
    skill: str = DEFAULT_SKILL
    skill_dir: Path | None = None
    output_dir: Path = field(default_factory=default_output_dir)
    allowed_dirs: tuple[Path, ...] = field(default_factory=default_allowed_dirs)
    allowed_dirs_problem: str | None = None  # a broken NEMO_MCP_ALLOWED_DIRS: uploads refused
    wait_budget: float = constants.DEFAULT_WAIT_BUDGET
    log_level: str = "WARNING"
    database_url: str | None = field(default=None, repr=False)  # may carry a password
    token_key: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    hosted: bool = False  # serving many users (serve --hosted): nothing on this server's disk

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        token = _clean(env.get(ENV_TOKEN))
        register_secret(token)
        kwargs: dict[str, object] = {}
        if api := _clean(env.get(ENV_API_URL)):
            kwargs["api_url"] = api.rstrip("/")
        if web := _clean(env.get(ENV_WEB_URL)):
            kwargs["web_url"] = web.rstrip("/")
        if home := _clean(env.get(ENV_HOME)):
            kwargs["home"] = Path(home).expanduser().absolute()
        if skill := _clean(env.get(ENV_SKILL)):
            kwargs["skill"] = skill
        if skill_dir := _clean(env.get(ENV_SKILL_DIR)):
            kwargs["skill_dir"] = Path(skill_dir).expanduser().absolute()
            if "skill" not in kwargs:
                # A skill folder built from a manifest selects that manifest (limits, examples).
                from nemo_mcp.manifest import manifest_for_skill_dir

                if named := manifest_for_skill_dir(Path(skill_dir).expanduser()):
                    kwargs["skill"] = named
        if out := _clean(env.get(ENV_OUTPUT_DIR)):
            kwargs["output_dir"] = Path(out).expanduser().absolute()
        if (allowed := env.get(ENV_ALLOWED_DIRS)) is not None:
            kwargs["allowed_dirs"], kwargs["allowed_dirs_problem"] = _allowed_dirs(allowed)
        if wait := _clean(env.get(ENV_WAIT_SECONDS)):
            try:
                seconds = float(wait)
            except ValueError:
                seconds = constants.DEFAULT_WAIT_BUDGET
            kwargs["wait_budget"] = min(max(seconds, 0.0), constants.MAX_WAIT_BUDGET)
        if level := _clean(env.get(ENV_LOG_LEVEL)):
            kwargs["log_level"] = level.upper()
        for name, var in (
            ("database_url", ENV_DATABASE_URL),
            ("token_key", ENV_TOKEN_KEY),
            ("redis_url", ENV_REDIS_URL),
        ):
            if value := _clean(env.get(var)):
                register_secret(value)
                kwargs[name] = value
        return cls(
            token=token,
            client_id=_clean(env.get(ENV_CLIENT_ID)),
            skill_source_override=_clean(env.get(ENV_SKILL_SOURCE)),
            **kwargs,  # type: ignore[arg-type]
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    def registration_url(self, user_id: str | None) -> str | None:
        """``$WEB/register?bind=<anon_id>`` for anonymous users; None for registered ones."""
        return account.registration_link(self.web_url, user_id)
