"""One nemo-mcp operation against a (hostile) backend in a fresh process, for memory numbers.

    python hostile_child.py SCENARIO API_URL HOME OUT [RENDER_ID] [--deadline S] [--cap BYTES]

SCENARIO: ``state`` (read the current session's timeline) or ``wait`` (the render RENDER_ID
recorded in HOME's store: resumed at start-up, then waited for). Prints one JSON line: the error
kind and message (or null), the elapsed seconds and the process's peak resident memory in KiB.
Retry waits are shortened (their logic is unchanged); ``--deadline`` and ``--cap`` shrink the
download deadline and size cap so a test can reach them quickly.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import anyio

from nemo_mcp import constants
from nemo_mcp.config import Settings
from nemo_mcp.errors import NemoError
from nemo_mcp.studio.facade import Studio

TOKEN = "nmv_usr_HOSTILE0child0token0never0stored0or0shown"


async def run(args: argparse.Namespace) -> dict[str, object]:
    settings = Settings(
        api_url=args.api,
        web_url=args.api,
        token=TOKEN,
        home=Path(args.home),
        output_dir=Path(args.out),
        allowed_dirs=(Path(args.out),),
    )
    started = time.monotonic()
    error: dict[str, object] | None = None
    try:
        async with Studio.open(settings, poll_interval=0.1) as studio:
            if args.scenario == "state":
                await studio.state()
            else:
                await studio.render_status(args.render_id, wait=-1)
    except (NemoError, BaseExceptionGroup) as exc:  # Studio.open's task group wraps errors
        err = _nemo_error(exc)
        if err is None:
            raise
        error = err.to_dict()
    return {
        "error": error,
        "elapsed_s": round(time.monotonic() - started, 3),
        "peak_rss_kb": peak_rss_kb(),
    }


def peak_rss_kb() -> int:
    """This process's peak resident memory. ``VmHWM`` where there is one: ``ru_maxrss`` also
    counts the parent's memory at the fork that started us (Linux keeps it across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _nemo_error(exc: BaseException) -> NemoError | None:
    if isinstance(exc, NemoError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _nemo_error(inner)) is not None:
                return found
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["state", "wait"])
    parser.add_argument("api")
    parser.add_argument("home")
    parser.add_argument("out")
    parser.add_argument("render_id", nargs="?")
    parser.add_argument("--deadline", type=float)
    parser.add_argument("--cap", type=int)
    args = parser.parse_args()
    constants.RETRY_BASE_DELAY = 0.01
    constants.RETRY_JITTER = 0.01
    if args.deadline is not None:
        constants.DOWNLOAD_MAX_SECONDS = args.deadline
    if args.cap is not None:
        constants.MAX_DOWNLOAD_BYTES = args.cap
    print(json.dumps(anyio.run(run, args)))


if __name__ == "__main__":
    main()
