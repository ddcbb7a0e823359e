"""The ``nemo-mcp`` command line."""

from __future__ import annotations

import argparse
import sys

from nemo_mcp import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemo-mcp",
        description="NemoVideo for AI assistants: MCP server, CLI and local emulator.",
    )
    parser.add_argument("--version", action="version", version=f"nemo-mcp {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    return 0
