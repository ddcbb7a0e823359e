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
import importlib
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemo_mcp.cli.context import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Ctx,
    Result,
    exit_code_for,
    first_error,
    to_json,
)
from nemo_mcp.cli.parser import UsageError, build_parser
from nemo_mcp.cli.progress import ProgressPrinter
from nemo_mcp.config import ENV_SKILL, ENV_SKILL_DIR, Settings
from nemo_mcp.errors import NemoError
from nemo_mcp.redact import redact, setup_logging

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

_LAZY_COMMANDS = ("emulator", "demo")
_TEMPLATE = re.compile(r"^(\$\{.*\}|\{\{.*\}\}|\{[A-Za-z_]+\})$")


# Each command's module, loaded when it is chosen (``serve`` loads only the MCP face).
_COMMAND_MODULES: dict[str, str] = {
    "ask": "commands",
    "upload": "commands",
    "chat": "commands",
    "state": "commands",
    "credits": "commands",
    "export": "commands",
    "wait": "commands",
    "cancel": "commands",
    "sessions": "commands",
    "login": "account",
    "logout": "account",
    "whoami": "account",
    "doctor": "admin",
    "install": "admin",
    "skill": "admin",
}


def _command(name: str) -> Callable[[Ctx], Awaitable[Result]]:
    module = importlib.import_module(f"nemo_mcp.cli.{_COMMAND_MODULES[name]}")
    command: Callable[[Ctx], Awaitable[Result]] = getattr(module, f"cmd_{name}")
    return command


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


def _print_result(ctx: Ctx, result: Result) -> None:
    from pydantic import BaseModel

    from nemo_mcp.cli.output import format_view, json_view

    ctx.ui.clear()
    if ctx.json:
        data = (
            json_view(result.data, ctx.manifest)
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
        text = format_view(result.data, ctx.manifest)
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
            from nemo_mcp.cli.admin import run_lazy

            return run_lazy(args.command, args)
        if args.command == "serve":
            from nemo_mcp.cli.admin import cmd_serve

            return cmd_serve(ctx)
        import anyio

        command = _command(args.command)
        context = ctx

        async def run() -> Result:
            return await command(context)

        result = anyio.run(run)
        _print_result(ctx, result)
        return result.code
    except BaseException as raw:
        err = first_error(raw)
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
