"""``nemo-mcp doctor``: check everything a working setup needs, each with a concrete fix.

Checks: the active skill and platform (the attribution headers), the state folder, the token
(its source, never its value), whether the API answers at all (a real request with a short
timeout), whether it accepts our token (the credit balance), media support (PyAV with the
libx264 and aac encoders), the output and upload folders, and which MCP clients (Claude
Desktop, Cursor, Claude Code) have nemo-mcp configured and whether its command still exists.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx

from nemo_mcp import constants
from nemo_mcp.api.attribution import UNKNOWN, attribution_for
from nemo_mcp.config import Settings
from nemo_mcp.contract import paths
from nemo_mcp.errors import AuthError, ConfigError, NemoError, RateLimitError
from nemo_mcp.files.roots import configured_roots
from nemo_mcp.manifest import load_manifest, read_frontmatter
from nemo_mcp.media import probe
from nemo_mcp.setup import installers

Status = Literal["OK", "WARN", "FAIL", "SKIP"]
LOW_DISK_BYTES = 1024**3


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _existing_parent(folder: Path) -> Path:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate
    return folder


def _writable(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (or the folder created); else why not.

    Nothing is created: a missing folder is judged by its nearest existing parent.
    """
    target = folder if folder.is_dir() else _existing_parent(folder)
    if not target.is_dir():
        return f"{target} is not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=target, prefix=".nemo-doctor-"):
            pass
    except OSError as err:
        return err.strerror or str(err)
    return None


def check_skill(settings: Settings) -> list[Check]:
    out: list[Check] = []
    try:
        manifest = load_manifest(settings.skill)
    except NemoError as err:
        return [Check("skill", "FAIL", err.message, err.hint)]
    who = attribution_for(settings, manifest)
    name, version = who.source, who.version
    origin = f"manifest {manifest.name}"
    if settings.skill_dir is not None:
        skill_md = settings.skill_dir / "SKILL.md"
        if not read_frontmatter(skill_md).get("name"):
            out.append(
                Check(
                    "skill folder",
                    "WARN",
                    f"{settings.skill_dir} has no SKILL.md with a name; the manifest is used.",
                    "Point --skill-dir / NEMO_SKILL_DIR at the folder that holds the skill's "
                    "SKILL.md.",
                )
            )
        else:
            origin = f"{skill_md}"
    out.insert(
        0,
        Check("skill", "OK", f"X-Skill-Source {name}, X-Skill-Version {version} (from {origin})"),
    )
    note = " (the documented fallback)" if who.platform == UNKNOWN else ""
    out.append(Check("platform", "OK", f"X-Skill-Platform {who.platform}{note}"))
    return out


def check_state_folder(settings: Settings) -> Check:
    home = settings.home
    problem = _writable(home)
    if problem:
        return Check(
            "state folder",
            "FAIL",
            f"{home} is not writable: {problem}.",
            "Set NEMO_MCP_HOME to a folder you own, or fix the folder's permissions.",
        )
    if not home.is_dir():
        return Check("state folder", "OK", f"{home} will be created (private) on first use.")
    detail = f"{home} is writable"
    if os.name != "nt":
        mode = stat.S_IMODE(home.stat().st_mode)
        if mode & 0o077:
            return Check(
                "state folder",
                "WARN",
                f"{detail}, but other users can read it (mode {mode:o}); it holds your token.",
                f"chmod 700 {home}",
            )
        detail += f" and private (mode {mode:o})"
    if settings.state_db.exists():
        try:
            from nemo_mcp.store import open_store

            with open_store(settings):
                pass
        except NemoError as err:
            return Check("state folder", "FAIL", err.message, err.hint)
    return Check("state folder", "OK", detail + ".")


def check_token_source(settings: Settings) -> Check:
    from nemo_mcp.store import open_store

    cred = None
    if settings.state_db.exists():
        with open_store(settings) as store:
            cred = store.load_credential(settings.api_url)
    if settings.token:
        return Check("token", "OK", "NEMO_TOKEN is set in the environment (it wins).")
    if cred is None:
        return Check(
            "token",
            "OK",
            "No token stored yet; a free anonymous one is requested on first use.",
        )
    if cred.source == "login":
        return Check("token", "OK", "Using the token saved with `nemo-mcp login`.")
    if cred.expires_at is not None and cred.expires_at < time.time():
        return Check(
            "token",
            "OK",
            "The stored anonymous token has expired; a new one is requested on first use.",
        )
    left = ""
    if cred.expires_at is not None:
        left = f", valid for {(cred.expires_at - time.time()) / 86400:.1f} more days"
    return Check("token", "OK", f"Using a stored anonymous token{left}.")


async def check_api(settings: Settings, timeout: float = constants.DOCTOR_API_TIMEOUT) -> Check:
    url = settings.api_url.rstrip("/") + paths.CREDITS
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            response = await http.get(url)
    except httpx.HTTPError as err:
        return Check(
            "api",
            "FAIL",
            f"{settings.api_url} did not answer ({type(err).__name__}).",
            "Check the network connection, a proxy (HTTPS_PROXY) and NEMO_API_URL.",
        )
    ms = (time.monotonic() - started) * 1000
    return Check(
        "api", "OK", f"{settings.api_url} answered (HTTP {response.status_code}) in {ms:.0f} ms."
    )


async def check_account(
    settings: Settings, timeout: float = constants.DOCTOR_ACCOUNT_TIMEOUT
) -> Check:
    from nemo_mcp.studio.facade import Studio

    try:
        with anyio.fail_after(timeout):
            async with Studio.open(settings, face="cli", resume=False) as studio:
                view = await studio.credits()
    except TimeoutError:
        return Check(
            "account",
            "FAIL",
            f"The credit balance did not arrive within {timeout:.0f} s.",
            "Try again later; `nemo-mcp credits` shows the error in full.",
        )
    except AuthError as err:
        return Check("account", "FAIL", err.message, err.hint)
    except RateLimitError as err:
        return Check("account", "WARN", err.message, err.hint)
    except NemoError as err:
        return Check("account", "FAIL", err.message, err.hint)
    detail = f"{view.available:g} credits available ({view.account} account)."
    if view.registration_url and view.available <= 0:
        return Check("account", "WARN", detail, f"Register (free) at {view.registration_url}.")
    return Check("account", "OK", detail)


def check_media() -> Check:
    if not probe.has_pyav():
        return Check(
            "media",
            "WARN",
            "PyAV is not installed: uploads are checked by their first bytes only and exports "
            "are not probed.",
            "pipx install 'nemo-mcp[media]' (or pip install 'nemo-mcp[media]').",
        )
    import av
    import av.codec

    missing = []
    for codec in ("libx264", "aac"):
        try:
            av.codec.Codec(codec, "w")
        except Exception:
            missing.append(codec)
    if missing:
        return Check(
            "media",
            "WARN",
            f"PyAV {av.__version__} lacks the {', '.join(missing)} encoder(s).",
            "Reinstall PyAV from its wheels (pip install --force-reinstall av), which bundle "
            "FFmpeg with libx264 and aac.",
        )
    return Check("media", "OK", f"PyAV {av.__version__} with libx264 and aac.")


def check_output(settings: Settings) -> Check:
    folder = settings.output_dir
    problem = _writable(folder)
    if problem:
        return Check(
            "output folder",
            "FAIL",
            f"Exports cannot be saved in {folder}: {problem}.",
            "Set NEMO_MCP_OUTPUT_DIR to a writable folder.",
        )
    free = shutil.disk_usage(_existing_parent(folder)).free
    if free < LOW_DISK_BYTES:
        return Check(
            "output folder",
            "WARN",
            f"{folder} has only {free / 1_048_576:.0f} MB free.",
            "Free some space or set NEMO_MCP_OUTPUT_DIR to another disk.",
        )
    created = "" if folder.is_dir() else ", created on the first export"
    return Check("output folder", "OK", f"{folder} ({free / 1024**3:.1f} GB free{created}).")


def check_uploads(settings: Settings) -> Check:
    try:
        existing = configured_roots(settings.allowed_dirs, problem=settings.allowed_dirs_problem)
    except ConfigError as err:
        return Check("upload folders", "FAIL", err.message, err.hint)
    shown = ", ".join(str(p) for p in existing[:4]) + (" ..." if len(existing) > 4 else "")
    return Check("upload folders", "OK", f"Uploads may come from {shown}.")


def check_clients(cwd: Path | None = None) -> list[Check]:
    cwd = cwd or Path.cwd()
    spots: list[tuple[installers.Client, Path, str]] = [
        ("claude-desktop", installers.config_path("claude-desktop"), ""),
        ("cursor", installers.config_path("cursor"), ""),
        ("cursor", installers.config_path("cursor", project=True, cwd=cwd), " --project"),
        ("claude-code", installers.config_path("claude-code"), ""),
        (
            "claude-code",
            installers.config_path("claude-code", scope="project", cwd=cwd),
            " --scope project",
        ),
    ]
    out: list[Check] = []
    for client, path, flag in spots:
        title = installers.CLIENT_TITLES[client]
        name = f"{title} ({path})"
        status = installers.client_status(client, path)
        install = f"nemo-mcp install {client}{flag}"
        if not status.exists:
            if flag:
                continue  # project files are only worth mentioning when they exist
            out.append(Check(name, "SKIP", "No configuration file.", f"{install} adds it."))
        elif status.problem:
            out.append(
                Check(name, "WARN", status.problem, "Fix the file by hand, then run " + install)
            )
        elif status.command_missing:
            out.append(
                Check(
                    name,
                    "FAIL",
                    f"Configured, but its command {status.command_missing} does not exist.",
                    f"{install} --force",
                )
            )
        elif status.configured_as:
            names = ", ".join(sorted(set(status.configured_as)))
            out.append(Check(name, "OK", f"nemo-mcp is configured (as {names})."))
        else:
            out.append(Check(name, "WARN", "nemo-mcp is not configured.", install))
    return out


async def run_checks(settings: Settings, *, cwd: Path | None = None) -> list[Check]:
    checks = check_skill(settings)
    state = check_state_folder(settings)
    checks.append(state)
    if state.status != "FAIL":
        checks.append(check_token_source(settings))
    api = await check_api(settings)
    checks.append(api)
    if api.status == "OK" and state.status != "FAIL":
        checks.append(await check_account(settings))
    else:
        checks.append(Check("account", "SKIP", "Not checked: the API or state folder failed."))
    checks.append(check_media())
    checks.append(check_output(settings))
    checks.append(check_uploads(settings))
    checks.extend(check_clients(cwd))
    return checks
