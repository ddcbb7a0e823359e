"""The command line's arguments: every command, its options, and the common ones."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from nemo_mcp import __version__
from nemo_mcp.cli.context import EXIT_CODES_HELP


class UsageError(Exception):
    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


def wait_arg(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("use a number of seconds >= 0")
    return seconds


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


def first_command(argv: Sequence[str]) -> str | None:
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
    chosen = first_command(argv)
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
            type=wait_arg,
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
        "--hosted",
        action="store_true",
        help="serve many users: every request needs a bearer token; state in the PostgreSQL "
        "database NEMO_MCP_DATABASE_URL names (see docs/hosted.md)",
    )
    p.add_argument(
        "--new-key",
        action="store_true",
        help="print a new NEMO_MCP_TOKEN_KEY (the key hosted mode encrypts tokens with) and exit",
    )
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
        from nemo_mcp.setup import demo

        demo.add_arguments(p)
    return parser
