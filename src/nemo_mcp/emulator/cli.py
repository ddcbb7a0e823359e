"""``nemo-mcp emulator``: run the NemoVideo emulator until interrupted.

The only thing written to stdout is one line, ``NemoVideo emulator listening on <url>``; logs go
to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from nemo_mcp.contract.renders import POLL_SHAPES
from nemo_mcp.emulator.config import (
    DEFAULT_PORT,
    DRAFT_FORMATS,
    EmulatorConfig,
    parse_stream_spec,
)
from nemo_mcp.emulator.faults import Fault
from nemo_mcp.emulator.server import EmulatorServer

log = logging.getLogger(__name__)

FAULT_HELP = (
    "inject a fault, ENDPOINT:ACTION[:times=N][:delay=S] (repeatable). Endpoints: token, "
    "session, claim, upload, credits, state, run_sse, render_submit, render_poll, "
    "render_cancel, download, cdn, * . Actions: an HTTP status (500), an error code (1001, "
    "1002, 2001, 4001, 4002), reset, truncate[=BYTES], drop[=EVENTS], error_v1, error_v2, "
    "model_error, heartbeats_only, hang, fail, silent. "
    "E.g. --fault run_sse:drop --fault state:500:times=2"
)


def _stream(value: str) -> str:
    try:
        parse_stream_spec(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _fault(value: str) -> str:
    try:
        Fault.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="keep state and media in DIR across restarts"
    )
    parser.add_argument("--fault", action="append", default=[], type=_fault, help=FAULT_HELP)
    parser.add_argument(
        "--stream",
        type=_stream,
        default="adk",
        help="stream variant, comma-separated tokens: adk | adk_snake | typed, partial, "
        "thoughts, hb=comment|empty|json|text, drop[=N], error_v1, error_v2, model_error, "
        "heartbeats_only",
    )
    parser.add_argument(
        "--draft-format",
        choices=DRAFT_FORMATS,
        default="json",
        help="how drafts are handed out: json (the contract's t/tt/sg), json_meta (labels in "
        "each segment's m) or v3 (a Draft Protocol V3 document)",
    )
    parser.add_argument(
        "--agent-questions",
        action="store_true",
        help="the agent asks instead of guessing (e.g. a promo with no aspect ratio)",
    )
    parser.add_argument("--poll-shape", choices=POLL_SHAPES, default="bare")
    parser.add_argument(
        "--silent-edits",
        choices=("auto", "always", "never"),
        default="auto",
        help="edit turns without text: auto (~30%%), always or never",
    )
    parser.add_argument(
        "--generation-seconds", type=float, default=None, help="how long a generation takes"
    )
    parser.add_argument("--edit-seconds", type=float, default=None)
    parser.add_argument("--heartbeat-interval", type=float, default=None)
    parser.add_argument(
        "--credits", type=int, default=None, help="credits of a new anonymous user (default 100)"
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="accept this registered (non-anonymous) token (repeatable)",
    )
    parser.add_argument("--token-lifetime", type=float, default=None, help="seconds")
    parser.add_argument("--upload-limit-mb", type=float, default=None)
    parser.add_argument("--url-fetch", choices=("loopback", "all", "none"), default=None)
    parser.add_argument("--render-preset", default=None, help="libx264 preset (default veryfast)")
    parser.add_argument(
        "--render-max-side", type=int, default=None, help="scale renders down to this side"
    )
    parser.add_argument(
        "--no-attribution-check",
        action="store_true",
        help="do not answer 402 to exports without X-Skill-* headers",
    )
    parser.add_argument("--public-url", default=None, help="base URL for links it hands out")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="stderr log level",
    )


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    fields: dict[str, Any] = {
        "data_dir": args.data,
        "faults": tuple(args.fault),
        "stream": args.stream,
        "poll_shape": args.poll_shape,
        "silent_edits": args.silent_edits,
        "registered_tokens": tuple(args.token),
        "require_attribution": not args.no_attribution_check,
        "public_url": args.public_url,
        "draft_format": args.draft_format,
        "agent_questions": args.agent_questions,
    }
    optional = {
        "generation_seconds": args.generation_seconds,
        "edit_seconds": args.edit_seconds,
        "heartbeat_interval": args.heartbeat_interval,
        "anon_credits": args.credits,
        "token_lifetime": args.token_lifetime,
        "upload_limit_mb": args.upload_limit_mb,
        "url_fetch": args.url_fetch,
        "render_preset": args.render_preset,
        "render_max_side": args.render_max_side,
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    return EmulatorConfig(**fields)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; 0 on a clean stop, 1 if it could not start."""
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"nemo-mcp emulator: {exc}", file=sys.stderr)
        return 2
    server = EmulatorServer(config, host=args.host, port=args.port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        try:
            server.start()
        except OSError as exc:
            print(
                f"nemo-mcp emulator: cannot listen on {args.host}:{args.port}: {exc}",
                file=sys.stderr,
            )
            return 1
        print(f"NemoVideo emulator listening on {server.url}", flush=True)
        try:
            server.serve_forever(stop)
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nemo-mcp emulator", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
