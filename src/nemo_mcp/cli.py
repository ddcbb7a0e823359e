"""The ``nemo-mcp`` command line: NemoVideo from a shell, for people and for agents.

    nemo-mcp upload song.mp3
    nemo-mcp chat "generate a music video clip synced to my song with matching visuals"
    nemo-mcp export --json
    nemo-mcp ask "send me the video"            # routed like the skills' table

Every command takes ``--json`` (one JSON object on stdout: the result, or ``{"error": {...}}``).
Progress goes to stderr (a live line on a terminal, timestamped lines otherwise); logs go to
stderr; a token is never printed. Commands wait until the work is done unless ``--wait
SECONDS`` says otherwise.

Exit codes: 0 done; 1 NemoVideo refused or failed (a failed chat turn too; a doctor check failed);
2 bad input or usage;
3 still running, a job id was returned; 4 authentication; 130 interrupted.

Imports are lazy: only ``serve`` (and ``demo``) load the MCP SDK, which takes about half a
second; ``emulator`` and ``demo`` load their modules only when chosen.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from pydantic import BaseModel

from nemo_mcp import __version__, constants
from nemo_mcp.cli_format import ProgressPrinter, format_view, json_view, to_json
from nemo_mcp.config import ENV_SKILL, ENV_SKILL_DIR, Settings
from nemo_mcp.errors import (
    AuthError,
    ConfigError,
    FileTooLargeError,
    InvalidInputError,
    NemoError,
    UnsupportedFileError,
)
from nemo_mcp.redact import redact, register_secret, setup_logging

if TYPE_CHECKING:
    from nemo_mcp.manifest import SkillManifest
    from nemo_mcp.studio.facade import Studio

log = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_RUNNING = 3
EXIT_AUTH = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """exit codes:
  0    done
  1    NemoVideo refused or failed (see the error's kind and hint; for chat, the turn
       failed or reported errors and changed nothing), or a doctor check failed
  2    bad input or usage: missing or unsupported file, empty message, unknown option
  3    still running: a job id was returned (continue with `nemo-mcp wait <id>`)
  4    authentication: the token is missing, expired or rejected
  130  interrupted"""

_LAZY_COMMANDS = ("emulator", "demo")
_TEMPLATE = re.compile(r"^(\$\{.*\}|\{\{.*\}\}|\{[A-Za-z_]+\})$")


# ------------------------------------------------------------------------------- plumbing
class UsageError(Exception):
    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


@dataclass
class Ctx:
    args: argparse.Namespace
    settings: Settings
    ui: ProgressPrinter
    warnings: list[str] = field(default_factory=list)

    @property
    def json(self) -> bool:
        return bool(self.args.json)


@dataclass
class Result:
    data: BaseModel | dict[str, Any]
    code: int = EXIT_OK
    text: str | None = None  # human text; default: formatted from the view


def exit_code_for(err: NemoError) -> int:
    if isinstance(err, AuthError):
        return EXIT_AUTH
    if isinstance(err, ConfigError | UnsupportedFileError | FileTooLargeError):
        return EXIT_USAGE
    return EXIT_ERROR


def _view_exit(view: BaseModel, *, cancelling: bool = False) -> int:
    from nemo_mcp.studio.views import RenderView, TurnView

    if isinstance(view, TurnView):
        if not view.done:
            return EXIT_RUNNING
        if view.status in ("failed", "timed_out", "lost", "interrupted"):
            return EXIT_ERROR
        if view.errors and not view.changes:  # e.g. out of credits, reported in the stream
            return EXIT_ERROR
    if isinstance(view, RenderView):
        if view.status == "cancelled":
            return EXIT_OK if cancelling else EXIT_ERROR
        if not view.done:
            return EXIT_RUNNING
        if view.status == "failed":
            return EXIT_ERROR
    return EXIT_OK


def _first_error(exc: BaseException) -> BaseException:
    """The most telling exception inside (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[BaseException] = []

        def walk(group: BaseExceptionGroup[BaseException]) -> None:
            for e in group.exceptions:
                if isinstance(e, BaseExceptionGroup):
                    walk(e)
                else:
                    leaves.append(e)

        walk(exc)
        for kind in (KeyboardInterrupt, NemoError):
            for leaf in leaves:
                if isinstance(leaf, kind):
                    return leaf
        return leaves[0] if leaves else exc
    return exc


def _wait_arg(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("use a number of seconds >= 0")
    return seconds


def _budget(args: argparse.Namespace) -> float:
    """The studio's wait: -1 waits until done (the CLI default)."""
    wait = getattr(args, "wait", None)
    return -1.0 if wait is None else float(wait)


def _abs_item(item: str) -> str:
    """Local paths are relative to the current folder in a shell."""
    if item.startswith(("http://", "https://", "file://", "~")):
        return item
    path = Path(item)
    return item if path.is_absolute() else str(Path.cwd() / path)


# ------------------------------------------------------------------------------ the parser
def _common(*, suppress: bool) -> _Parser:
    """Options every command accepts, before or after the command name."""
    d: Any = argparse.SUPPRESS if suppress else None
    p = _Parser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON object on stdout (the result, or {'error': {...}})",
    )
    g.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="no progress output on stderr",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="log details to stderr (never a token)",
    )
    g.add_argument(
        "--skill-dir",
        metavar="DIR",
        default=d,
        help="folder of the SKILL.md being run: its name and version are sent as the "
        "X-Skill-Source/X-Skill-Version headers (env NEMO_SKILL_DIR)",
    )
    g.add_argument(
        "--skill",
        metavar="NAME",
        default=d,
        help="skill manifest to act as (env NEMO_SKILL; default nemo-mcp)",
    )
    return p


def _first_command(argv: Sequence[str]) -> str | None:
    takes_value = {"--skill-dir", "--skill"}
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in takes_value:
            skip = True
            continue
        if token.startswith("-"):
            continue
        return token
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    chosen = _first_command(argv)
    parser = _Parser(
        prog="nemo-mcp",
        description="NemoVideo for AI assistants: make music videos, promo videos and "
        "background tracks from the command line, or serve them to MCP clients.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"nemo-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = _common(suppress=True)

    def add(name: str, help_text: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kw,
        )

    def session_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--session", metavar="ID", help="work on this session (default: current)")

    def wait_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--wait",
            metavar="SECONDS",
            type=_wait_arg,
            default=None,
            help="return a job id (exit 3) if not done after this long (default: wait until done)",
        )

    p = add("ask", "free text, routed like the skills: export / credits / state / upload / chat")
    p.add_argument("text", help='what the user said, e.g. "send me the video"')
    p.add_argument(
        "--force",
        action="store_true",
        help="chat: send even if just sent; export: render again even if already exported",
    )
    session_opt(p)
    wait_opt(p)

    p = add("upload", "upload songs, photos or clips (local paths or http(s) URLs)")
    p.add_argument("items", nargs="+", metavar="PATH_OR_URL")
    session_opt(p)

    p = add("chat", "send one message to the editing agent (costs credits; never resent)")
    p.add_argument("message")
    p.add_argument(
        "--force", action="store_true", help="send even if this exact message was just sent"
    )
    session_opt(p)
    wait_opt(p)

    p = add("state", "show the timeline (tracks, times, volumes) and whether it can be exported")
    session_opt(p)

    add("credits", "show the credit balance")

    p = add("export", "render the timeline (free), download the MP4 and print its path")
    p.add_argument("--filename", metavar="NAME", help="name for the MP4")
    p.add_argument("--overwrite", action="store_true", help="replace a file of the same name")
    p.add_argument(
        "--force", action="store_true", help="render again even if this timeline was exported"
    )
    session_opt(p)
    wait_opt(p)

    p = add("wait", "wait for a chat turn (turn_...) or render (render_...) id")
    p.add_argument(
        "job_id", metavar="JOB_ID", nargs="?", help="default: the current session's latest job"
    )
    wait_opt(p)

    p = add("cancel", "cancel a render that is still running")
    p.add_argument("render_id", metavar="RENDER_ID")

    p = add("sessions", "list sessions (projects), start a new one, or switch to one")
    ss = p.add_subparsers(dest="sessions_action", metavar="ACTION", parser_class=_Parser)
    ss.add_parser("list", help="list sessions (the default)", parents=[common])
    new = ss.add_parser("new", help="start a new, empty session", parents=[common])
    new.add_argument("--language", metavar="L", help="e.g. en, zh-CN, ja")
    new.add_argument("--title", metavar="T")
    use = ss.add_parser("use", help="make a session current", parents=[common])
    use.add_argument("session_id", metavar="ID")

    p = add("login", "store a NemoVideo token (hidden prompt, or --stdin); never echoed")
    p.add_argument("--stdin", action="store_true", help="read the token from standard input")
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="store it without checking it against the API first",
    )
    add("logout", "forget the stored token for this API URL")
    add("whoami", "show the token's source, user id, expiry, client id, API URL and skill")
    add("doctor", "check token, API, folders, media support and MCP client configuration")

    p = add("serve", "run the MCP server (stdio by default)")
    p.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (anyone who can reach it can use your account)",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="also answer requests addressed to this host name (repeatable; e.g. the name a "
        "reverse proxy or other machines use). The bound address, and for 0.0.0.0 this "
        "machine's own names and addresses, are allowed already",
    )

    p = add(
        "install",
        "add the MCP server to Claude Desktop, Cursor or Claude Code (or print the entries)",
    )
    p.add_argument("target", choices=["claude-desktop", "cursor", "claude-code", "print"])
    p.add_argument("--config", metavar="PATH", help="edit this file instead of the default one")
    p.add_argument("--project", action="store_true", help="Cursor: the project's .cursor/mcp.json")
    p.add_argument(
        "--scope",
        choices=["user", "project"],
        default="user",
        help="Claude Code: ~/.claude.json (user, default) or ./.mcp.json (project)",
    )
    p.add_argument("--name", default="nemovideo", help="server name (default nemovideo)")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VAL",
        help="environment for the server (repeatable); a token is written only if you pass "
        "NEMO_TOKEN here",
    )
    p.add_argument(
        "--launcher",
        choices=["auto", "exe", "python", "uvx"],
        default="auto",
        help="how the client starts the server (default: the nemo-mcp executable's path)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing nemo-mcp entry")
    p.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    p.add_argument(
        "--portable",
        action="store_true",
        help="print: bare command names (uvx) instead of this machine's paths",
    )

    p = add("skill", "build ready-to-publish skill folders from the skill manifests")
    sk = p.add_subparsers(dest="skill_action", metavar="ACTION", parser_class=_Parser)
    build = sk.add_parser(
        "build", help="write <out>/<name>/SKILL.md for a manifest", parents=[common]
    )
    build.add_argument(
        "manifest", nargs="?", help="manifest name (e.g. ai-music-video-clip-generator) or path"
    )
    build.add_argument("--all", action="store_true", help="build every manifest")
    build.add_argument(
        "--out", metavar="DIR", default="skills", help="output folder (default ./skills)"
    )

    p = add("emulator", "run the local NemoVideo emulator")
    if chosen == "emulator":
        from nemo_mcp.emulator import cli as emulator_cli

        emulator_cli.add_arguments(p)
    p = add("demo", "run the end-to-end demo against the embedded emulator")
    if chosen == "demo":
        from nemo_mcp import demo

        demo.add_arguments(p)
    return parser


# ----------------------------------------------------------------------------- settings
def _settings(args: argparse.Namespace, warnings: list[str]) -> Settings:
    env = dict(os.environ)
    skill_dir = getattr(args, "skill_dir", None)
    if skill_dir:
        if _TEMPLATE.match(skill_dir.strip()):
            warnings.append(
                f"--skill-dir {skill_dir} was not filled in; ignored (write the skill folder's "
                "path, or use --skill NAME)."
            )
        else:
            folder = Path(skill_dir).expanduser()
            if not folder.is_dir():
                warnings.append(f"--skill-dir {skill_dir}: no such folder; ignored.")
            else:
                env[ENV_SKILL_DIR] = str(folder.absolute())
    skill = getattr(args, "skill", None)
    if skill:
        env[ENV_SKILL] = skill
    settings = Settings.from_env(env)
    if getattr(args, "verbose", False):
        settings = settings.with_(log_level="DEBUG")
    return settings


async def _studio_call(ctx: Ctx, fn: Callable[[Studio], Awaitable[T]]) -> T:
    """Run ``fn`` with a studio; NemoErrors come out unwrapped from the task group."""
    from nemo_mcp.studio.facade import Studio

    caught: NemoError | None = None
    result: T | None = None
    async with Studio.open(ctx.settings, face="cli", resume=False) as studio:
        try:
            result = await fn(studio)
            if isinstance(result, BaseModel):
                result = await _settle(studio, result)  # type: ignore[assignment]
        except NemoError as err:
            caught = err
    if caught is not None:
        raise caught
    return result  # type: ignore[return-value]


async def _settle(studio: Studio, view: BaseModel) -> BaseModel:
    """Before a handle is handed back, make sure its request reached NemoVideo.

    The studio's jobs end with this process. A render goes on on the server once submitted
    (``nemo-mcp wait`` resumes polling and the download later), so the submit must be sent
    first. A chat turn's stream ends with the process: the agent goes on, but only the
    timeline tells the outcome (the output says so, and points to ``state``).
    """
    import anyio

    from nemo_mcp.studio.views import RenderView, TurnView

    deadline = time.monotonic() + constants.HANDLE_GRACE
    if isinstance(view, RenderView) and not view.done:
        while view.status == "submitting" and time.monotonic() < deadline:
            view = await studio.render_status(view.render_id, wait=0.2)
        return view
    if isinstance(view, TurnView) and not view.done:
        job = studio.runner.get(view.turn_id)
        for _ in range(int(constants.HANDLE_GRACE / 0.1)):  # until the stream answered at all
            if job is None or job.last is not None or job.done.is_set():
                break
            await anyio.sleep(0.1)
        view = await studio.turn_status(view.turn_id, wait=0)
    return view


# ----------------------------------------------------------------------------- commands
async def cmd_ask(ctx: Ctx) -> Result:
    from nemo_mcp.condense.router import route

    text: str = ctx.args.text
    if not text.strip():
        raise InvalidInputError("The text is empty.", hint="Say what to make, change or check.")
    r = route(text)
    ctx.ui.note(f"-> {r.intent}")
    session = ctx.args.session
    wait = _budget(ctx.args)

    async def run(studio: Studio) -> BaseModel:
        if r.intent == "upload":
            items = [_abs_item(p) for p in r.paths] + list(r.urls)
            if not items:
                raise InvalidInputError(
                    "That asks for an upload but names no file.",
                    hint="Name the file or URL, e.g. `nemo-mcp upload song.mp3`.",
                )
            return await studio.upload(items, session_id=session, on_progress=ctx.ui)
        if r.intent == "export":
            return await studio.export(
                session_id=session, wait=wait, on_progress=ctx.ui, force=ctx.args.force
            )
        if r.intent == "credits":
            return await studio.credits()
        if r.intent == "state":
            return await studio.state(session_id=session)
        return await studio.chat(
            text, session_id=session, wait=wait, on_progress=ctx.ui, force=ctx.args.force
        )

    view = await _studio_call(ctx, run)
    manifest = _manifest(ctx)
    data = {"intent": r.intent, **json_view(view, manifest)}
    return Result(data, _view_exit(view), format_view(view, manifest))


async def cmd_upload(ctx: Ctx) -> Result:
    items = [_abs_item(i) for i in ctx.args.items]
    view = await _studio_call(
        ctx, lambda s: s.upload(items, session_id=ctx.args.session, on_progress=ctx.ui)
    )
    return Result(view)


async def cmd_chat(ctx: Ctx) -> Result:
    a = ctx.args
    view = await _studio_call(
        ctx,
        lambda s: s.chat(
            a.message, session_id=a.session, wait=_budget(a), on_progress=ctx.ui, force=a.force
        ),
    )
    return Result(view, _view_exit(view))


async def cmd_state(ctx: Ctx) -> Result:
    return Result(await _studio_call(ctx, lambda s: s.state(session_id=ctx.args.session)))


async def cmd_credits(ctx: Ctx) -> Result:
    return Result(await _studio_call(ctx, lambda s: s.credits()))


async def cmd_export(ctx: Ctx) -> Result:
    a = ctx.args
    view = await _studio_call(
        ctx,
        lambda s: s.export(
            session_id=a.session,
            wait=_budget(a),
            on_progress=ctx.ui,
            filename=a.filename,
            overwrite=a.overwrite,
            force=a.force,
        ),
    )
    return Result(view, _view_exit(view))


async def cmd_wait(ctx: Ctx) -> Result:
    given: str | None = (ctx.args.job_id or "").strip() or None
    wait = _budget(ctx.args)
    if given is not None and not re.fullmatch(r"(turn|render)_[A-Za-z0-9_]+", given):
        raise InvalidInputError(
            f"{given[:60]!r} is not a job id.",
            hint="Use the turn_... or render_... id that chat or export returned.",
        )

    async def run(studio: Studio) -> BaseModel:
        job_id = given or studio.latest_job()
        if job_id.startswith("turn_"):
            return await studio.turn_status(job_id, wait=wait, on_progress=ctx.ui)
        return await studio.render_status(job_id, wait=wait, on_progress=ctx.ui)

    view = await _studio_call(ctx, run)
    return Result(view, _view_exit(view))


async def cmd_cancel(ctx: Ctx) -> Result:
    render_id: str = ctx.args.render_id.strip()
    if not re.fullmatch(r"render_[A-Za-z0-9_]+", render_id):
        raise InvalidInputError(
            f"{render_id[:60]!r} is not a render id.",
            hint="Use the render_... id that export returned.",
        )
    view = await _studio_call(ctx, lambda s: s.cancel_render(render_id))
    return Result(view, _view_exit(view, cancelling=True))


async def cmd_sessions(ctx: Ctx) -> Result:
    a = ctx.args
    action = getattr(a, "sessions_action", None) or "list"

    async def run(studio: Studio) -> BaseModel:
        if action == "new":
            return await studio.new_session(language=a.language, title=a.title)
        if action == "use":
            return studio.use_session(a.session_id.strip())
        return studio.list_sessions()

    return Result(await _studio_call(ctx, run))


def _read_token(args: argparse.Namespace) -> str:
    if args.stdin:
        raw = sys.stdin.readline()
    else:
        if not sys.stdin.isatty():
            raise InvalidInputError(
                "There is no terminal to ask for the token on.",
                hint="Pipe it in instead: `nemo-mcp login --stdin < token.txt` (never pass a "
                "token as an argument: other programs can see arguments).",
            )
        raw = getpass.getpass("NemoVideo token (input hidden): ")
    token = raw.strip()
    register_secret(token)
    if not token or any(c.isspace() for c in token):
        raise InvalidInputError(
            "That does not look like a NemoVideo token (empty, or contains spaces).",
            hint="Copy it from nemovideo.com -> Settings -> API Tokens and try again.",
        )
    return token


async def cmd_login(ctx: Ctx) -> Result:
    from nemo_mcp.store import open_store
    from nemo_mcp.store.records import Credential

    settings = ctx.settings
    notes: list[str] = []
    if settings.token:
        notes.append(
            "NEMO_TOKEN is set in this environment and wins over the stored token; unset it to "
            "use the one stored now."
        )
    token = _read_token(ctx.args)
    verified = False
    credits: float | None = None
    if not ctx.args.no_verify:
        probe = settings.with_(token=token)
        from nemo_mcp.studio.facade import Studio

        caught: NemoError | None = None
        async with Studio.open(probe, face="cli", resume=False) as studio:
            try:
                view = await studio.credits()
                credits = view.available
            except AuthError:
                caught = AuthError(
                    "NemoVideo rejected that token; it was not stored.",
                    hint="Check that you copied the whole token (nemovideo.com -> Settings -> "
                    "API Tokens) and run `nemo-mcp login` again.",
                )
            except NemoError as err:
                caught = err
        if caught is not None:
            if not isinstance(caught, AuthError):
                caught.hint = (
                    caught.hint + " The token was not stored; use --no-verify to store it "
                    "without checking."
                ).strip()
            raise caught
        verified = True
    with open_store(settings) as store:
        store.save_credential(settings.api_url, Credential(token=token, source="login"))
    summary = "Token stored for " + settings.api_url
    summary += f" (verified: {credits:g} credits available)." if verified else " (not verified)."
    data = {
        "stored": True,
        "verified": verified,
        "api_url": settings.api_url,
        "credits_available": credits,
        "notes": notes,
        "summary": summary,
    }
    return Result(data, text="\n".join([summary, *notes]))


async def cmd_logout(ctx: Ctx) -> Result:
    from nemo_mcp.store import open_store

    with open_store(ctx.settings) as store:
        removed = store.clear_credential(ctx.settings.api_url)
    summary = (
        f"Forgot the stored token for {ctx.settings.api_url}."
        if removed
        else f"No token was stored for {ctx.settings.api_url}."
    )
    notes = []
    if ctx.settings.token:
        notes.append("NEMO_TOKEN is still set in the environment and will be used.")
    data = {"removed": removed, "api_url": ctx.settings.api_url, "notes": notes, "summary": summary}
    return Result(data, text="\n".join([summary, *notes]))


async def cmd_whoami(ctx: Ctx) -> Result:
    import httpx

    from nemo_mcp.api.attribution import attribution_for
    from nemo_mcp.api.auth import TokenProvider
    from nemo_mcp.store import open_store

    s = ctx.settings
    with open_store(s) as store:
        async with httpx.AsyncClient() as http:
            ident = TokenProvider(s, store, http).identity()
    who = attribution_for(s)
    skill, skill_version, platform = who.source, who.version, who.platform
    source = ident.source if ident.source != "none" else "none"
    expires_in = ident.expires_at - time.time() if ident.expires_at else None
    data: dict[str, Any] = {
        "source": source,
        "user_id": ident.user_id,
        "expires_at": ident.expires_at,
        "expires_in_s": round(expires_in) if expires_in is not None else None,
        "client_id": ident.client_id,
        "api_url": s.api_url,
        "skill": skill,
        "skill_version": skill_version,
        "skill_dir": str(s.skill_dir) if s.skill_dir else None,
        "platform": platform,
        "state_folder": str(s.home),
    }
    described = {
        "env": "NEMO_TOKEN (environment)",
        "login": "stored by `nemo-mcp login`",
        "anonymous": "free anonymous token (stored)",
        "none": "none yet (a free anonymous token is requested on first use)",
    }.get(source, source)
    data["summary"] = f"Token: {described}; API {s.api_url}; skill {skill} {skill_version}."
    lines = [f"token source : {described}"]
    if ident.user_id:
        lines.append(f"user id      : {ident.user_id}")
    if ident.expires_at:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(ident.expires_at))
        days = f" (in {expires_in / 86400:.1f} days)" if expires_in is not None else ""
        lines.append(f"expires      : {when}{days}")
    lines += [
        f"client id    : {ident.client_id or '(created on first use)'}",
        f"API URL      : {s.api_url}",
        f"skill        : {skill} {skill_version}" + (f" ({s.skill_dir})" if s.skill_dir else ""),
        f"platform     : {platform}",
        f"state folder : {s.home}",
    ]
    return Result(data, text="\n".join(lines))


async def cmd_doctor(ctx: Ctx) -> Result:
    from nemo_mcp.doctor import run_checks

    checks = await run_checks(ctx.settings)
    failed = [c for c in checks if c.status == "FAIL"]
    warned = [c for c in checks if c.status == "WARN"]
    summary = (
        f"{len(failed)} problem(s), {len(warned)} warning(s)."
        if failed or warned
        else "Everything checks out."
    )
    data = {
        "ok": not failed,
        "checks": [c.to_dict() for c in checks],
        "summary": summary,
    }
    lines = []
    for c in checks:
        lines.append(f"[{c.status:<4}] {c.name}: {c.detail}")
        if c.fix and c.status != "OK":
            lines.append(f"       fix: {c.fix}")
    lines.append(summary)
    return Result(data, EXIT_ERROR if failed else EXIT_OK, "\n".join(lines))


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cmd_serve(ctx: Ctx) -> int:
    a = ctx.args
    if a.http and not _is_loopback(a.host):
        if not a.allow_remote:
            raise InvalidInputError(
                f"Refusing to serve on {a.host}: that is reachable from other machines, and "
                "anyone who reaches it can spend your NemoVideo credits and read and write media "
                "through this server (it has no login of its own).",
                hint="Serve on 127.0.0.1 (the default) and tunnel to it, or pass --allow-remote "
                "if the network is trusted.",
            )
        print(
            f"warning: serving on {a.host}:{a.port} without authentication; anyone who can "
            "reach it can use your NemoVideo account.",
            file=sys.stderr,
        )
    from nemo_mcp.mcp.server import serve

    serve(
        http=a.http,
        host=a.host,
        port=a.port,
        settings=ctx.settings,
        allowed_hosts=a.allowed_host,
    )
    return EXIT_OK


def _lazy_run(name: str, args: argparse.Namespace) -> int:
    if name == "emulator":
        from nemo_mcp.emulator import cli as emulator_cli

        return int(emulator_cli.run(args))
    from nemo_mcp import demo

    return int(demo.run(args))


async def cmd_install(ctx: Ctx) -> Result:
    from nemo_mcp import installers

    a = ctx.args
    env = installers.parse_env_pairs(a.env, skill=getattr(a, "skill", None))
    if a.target == "print":
        entry = installers.server_entry(launcher=a.launcher, env=env, portable=a.portable)
        data: dict[str, Any] = {}
        lines: list[str] = []
        for client in installers.CLIENTS:
            path = installers.config_path(client)
            config = {"mcpServers": {a.name: installers.client_entry(client, entry)}}
            data[client] = {"file": str(path), "config": config}
            lines += [
                f"# {installers.CLIENT_TITLES[client]}: add to {path}",
                json.dumps(config, indent=2, ensure_ascii=False),
                "",
            ]
        args_text = " ".join(entry["args"])
        env_text = "".join(f" --env {k}={v}" for k, v in env.items())
        lines.append(
            "# Claude Code, from a shell: claude mcp add --scope user"
            f"{env_text} {a.name} -- {entry['command']} {args_text}"
        )
        return Result(data, text=redact("\n".join(lines)))
    target: installers.Client = a.target
    path = (
        Path(a.config).expanduser()
        if a.config
        else installers.config_path(target, project=a.project, scope=a.scope)
    )
    entry = installers.server_entry(launcher=a.launcher, env=env)
    plan = installers.plan_install(target, path, entry, name=a.name, force=a.force)
    title = installers.CLIENT_TITLES[target]
    if target == "claude-desktop" and not a.config and not path.parent.exists():
        plan.warnings.append(
            f"{path.parent} does not exist: Claude Desktop may not be installed. The file is "
            "created anyway."
        )
    if target == "claude-code" and not plan.unchanged:
        plan.warnings.append(
            "A running Claude Code rewrites this file; if the entry does not show up in "
            "`claude mcp list`, quit Claude Code and run this again, or use: claude mcp add "
            f"--scope {a.scope} {a.name} -- {entry['command']} {' '.join(entry['args'])}"
        )
    diff = plan.diff()
    if a.dry_run:
        info = plan.to_dict() | {"dry_run": True, "diff": diff}
        head = "No change needed." if plan.unchanged else f"Would change {path}:"
        text = "\n".join([head, diff.rstrip()] if diff else [head])
        return Result(info, text=redact("\n".join([text, *plan.warnings])))
    installers.apply_install(plan)
    if plan.unchanged:
        summary = f"{title} already has this entry in {path}; nothing to do."
    else:
        verb = "Replaced" if plan.replaced else "Added"
        summary = f"{verb} {a.name!r} in {title}'s configuration ({path})."
        if plan.backup:
            summary += f" Backup of the old file: {plan.backup}."
        summary += f" Restart {title} to load it."
    info = plan.to_dict() | {"summary": summary}
    return Result(
        info, text=redact("\n".join([summary, *[f"warning: {w}" for w in plan.warnings]]))
    )


async def cmd_skill(ctx: Ctx) -> Result:
    from nemo_mcp import skillpkg
    from nemo_mcp.manifest import all_manifests

    a = ctx.args
    if getattr(a, "skill_action", None) != "build":
        raise InvalidInputError("Say what to do: `nemo-mcp skill build <manifest>`.")
    if a.all:
        manifests = list(all_manifests().values())
    elif a.manifest:
        manifests = [skillpkg.resolve_manifest(a.manifest)]
    else:
        raise InvalidInputError(
            "Name a manifest, or pass --all.",
            hint="e.g. `nemo-mcp skill build ai-music-video-clip-generator --out skills`.",
        )
    out = Path(a.out).expanduser()
    built = []
    for m in manifests:
        folder = skillpkg.build_skill(m, out)
        built.append({"name": m.name, "version": m.version, "path": str(folder / "SKILL.md")})
    summary = f"Built {len(built)} skill folder(s) in {out}."
    text = "\n".join([*(f"{b['name']} {b['version']}: {b['path']}" for b in built), summary])
    return Result({"built": built, "summary": summary}, text=text)


COMMANDS: dict[str, Callable[[Ctx], Awaitable[Result]]] = {
    "ask": cmd_ask,
    "upload": cmd_upload,
    "chat": cmd_chat,
    "state": cmd_state,
    "credits": cmd_credits,
    "export": cmd_export,
    "wait": cmd_wait,
    "cancel": cmd_cancel,
    "sessions": cmd_sessions,
    "login": cmd_login,
    "logout": cmd_logout,
    "whoami": cmd_whoami,
    "doctor": cmd_doctor,
    "install": cmd_install,
    "skill": cmd_skill,
}


# --------------------------------------------------------------------------------- output
def _manifest(ctx: Ctx) -> SkillManifest:
    from nemo_mcp.manifest import load_manifest

    return load_manifest(ctx.settings.skill)


def _print_result(ctx: Ctx, result: Result) -> None:
    ctx.ui.clear()
    if ctx.json:
        data = (
            json_view(result.data, _manifest(ctx))
            if isinstance(result.data, BaseModel)
            else result.data
        )
        if ctx.warnings and isinstance(data, dict):
            data = {**data, "warnings": [*data.get("warnings", []), *ctx.warnings]}
        print(to_json(data), flush=True)
        return
    if result.text is not None:
        text = result.text
    elif isinstance(result.data, BaseModel):
        text = format_view(result.data, _manifest(ctx))
    else:
        text = to_json(result.data)
    print(redact(text), flush=True)


def _print_error(args: argparse.Namespace | None, body: dict[str, Any], text: str) -> None:
    if args is not None and getattr(args, "json", False):
        print(to_json({"error": body}), flush=True)
    else:
        print(redact(text), file=sys.stderr, flush=True)


def _argv_wants_json(argv: Sequence[str]) -> bool:
    return "--json" in argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
    except UsageError as usage:
        body = {
            "kind": "usage",
            "message": str(usage),
            "hint": f"Run `{usage.prog} --help` for the options.",
            "retryable": False,
        }
        if _argv_wants_json(argv):
            print(to_json({"error": body}), flush=True)
        else:
            print(
                f"{usage.prog}: error: {usage}\nRun `{usage.prog} --help` for the options.",
                file=sys.stderr,
            )
        return EXIT_USAGE
    except SystemExit as exit_:  # --help / --version
        return int(exit_.code or 0) if isinstance(exit_.code, int | None) else EXIT_USAGE
    except ImportError as missing:
        print(
            f"nemo-mcp: this command is not available in this installation ({missing}).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    root = logging.getLogger()
    saved_logging = (list(root.handlers), root.level)
    try:
        return _dispatch(args)
    finally:  # leave logging as it was (matters when main() is called in-process)
        root.handlers[:] = saved_logging[0]
        root.setLevel(saved_logging[1])


def _dispatch(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    ctx: Ctx | None = None
    try:
        settings = _settings(args, warnings)
        setup_logging(settings.log_level)
        ui = ProgressPrinter(sys.stderr, enabled=not args.quiet)
        ctx = Ctx(args=args, settings=settings, ui=ui, warnings=warnings)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        if args.command in _LAZY_COMMANDS:
            return _lazy_run(args.command, args)
        if args.command == "serve":
            return cmd_serve(ctx)
        import anyio

        command = COMMANDS[args.command]
        context = ctx

        async def run() -> Result:
            return await command(context)

        result = anyio.run(run)
        _print_result(ctx, result)
        return result.code
    except BaseException as raw:
        err = _first_error(raw)
        if ctx is not None:
            ctx.ui.clear()
        if isinstance(err, KeyboardInterrupt):
            _print_error(
                args,
                {"kind": "interrupted", "message": "Interrupted.", "hint": "", "retryable": True},
                "Interrupted. Check `nemo-mcp state` before repeating a request.",
            )
            return EXIT_INTERRUPTED
        if isinstance(err, NemoError):
            _print_error(args, err.to_dict(), f"error ({err.kind}): {err}")
            return exit_code_for(err)
        if isinstance(err, SystemExit):
            return int(err.code) if isinstance(err.code, int) else EXIT_ERROR
        log.debug("unexpected error", exc_info=err)
        message = redact(f"{type(err).__name__}: {err}")[:500]
        _print_error(
            args,
            {
                "kind": "internal",
                "message": f"nemo-mcp hit an unexpected error ({message}).",
                "hint": "Run again with --verbose for details; `nemo-mcp doctor` checks the setup.",
                "retryable": False,
            },
            f"error: nemo-mcp hit an unexpected error ({message}). Run again with --verbose "
            "for details.",
        )
        return EXIT_ERROR
