"""``python -m benchmarks`` (or ``python3 dev.py bench``): the benchmark suite.

Runs the selected benchmarks, prints a Markdown table of medians and of ratios to baselines
measured side by side in the same run, and writes the results as JSON to ``.benchmarks-out/``.

    python3 dev.py bench                                  # everything, default sizes
    python3 dev.py bench --only cold,calls                # some of them
    python3 dev.py bench --size-mb 100 --events 200000    # smaller transfers and streams
    python3 dev.py bench --quick                          # tiny sizes, no peers (a smoke run)
    python3 dev.py bench --readme                         # and write the table into README.md

Benchmarks: ``cold`` (spawn to first tools/list over stdio, nemo-mcp vs the SDK floor and peer
servers from PyPI), ``calls`` (tool-call overhead vs a direct HTTP request), ``condense`` (the
chat stream pipeline vs a JSON-decoding floor), ``transfer`` (upload/download vs curl) and
``concurrency`` (many MCP clients over streamable HTTP vs direct requests) and ``hosted`` (1 and
2 hosted workers on PostgreSQL under 32 clients; the store on PostgreSQL vs SQLite).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Row, say, table, write_readme, write_results

ALL = ("cold", "calls", "condense", "transfer", "concurrency", "hosted")
DEFAULT_PEERS = "elevenlabs-mcp,minimax-mcp"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    p.add_argument(
        "--only", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}"
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes and no peers (smoke run)")
    p.add_argument("--runs", type=int, default=None, help="cold-start runs per subject (11)")
    p.add_argument("--calls", type=int, default=None, help="tool calls per subject (300)")
    p.add_argument("--events", type=int, default=None, help="events in the chat stream (1e6)")
    p.add_argument("--size-mb", type=int, default=None, help="transfer file size in MB (500)")
    p.add_argument("--transfer-runs", type=int, default=None, help="transfer runs (5)")
    p.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds (condense and concurrency: 3)"
    )
    p.add_argument("--clients", type=int, default=None, help="concurrent MCP clients (16)")
    p.add_argument("--per-client", type=int, default=None, help="calls per client (20)")
    p.add_argument(
        "--peers", default=None, help=f"peer servers from PyPI (default {DEFAULT_PEERS})"
    )
    p.add_argument("--no-peers", action="store_true", help="skip the peer servers")
    p.add_argument("--out", default=None, help="results folder (default .benchmarks-out)")
    p.add_argument(
        "--readme", action="store_true", help="also write the table into README.md (full runs)"
    )
    args = p.parse_args(argv)
    quick = args.quick

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else (small if quick else full)

    args.runs = pick(args.runs, 11, 2)
    args.calls = pick(args.calls, 300, 30)
    args.events = pick(args.events, 1_000_000, 20_000)
    args.size_mb = pick(args.size_mb, 500, 8)
    args.transfer_runs = pick(args.transfer_runs, 5, 1)
    args.rounds = pick(args.rounds, 3, 1)
    args.clients = pick(args.clients, 16, 3)
    args.per_client = pick(args.per_client, 20, 4)
    if args.no_peers or (quick and args.peers is None):
        args.peer_list = []
    else:
        args.peer_list = [x for x in (args.peers or DEFAULT_PEERS).split(",") if x.strip()]
    args.selected = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(args.selected) - set(ALL)
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {ALL}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    quick = args.quick
    from benchmarks import (
        bench_calls,
        bench_cold_start,
        bench_concurrency,
        bench_condense,
        bench_hosted,
        bench_transfer,
    )

    plan: dict[str, Callable[[], list[Row]]] = {
        "cold": lambda: bench_cold_start.run(args.runs, args.peer_list),
        "calls": lambda: bench_calls.run(args.calls),
        "condense": lambda: bench_condense.rows(args.events, args.rounds),
        "transfer": lambda: bench_transfer.run(args.size_mb, args.transfer_runs),
        "concurrency": lambda: bench_concurrency.run(args.clients, args.per_client, args.rounds),
        "hosted": lambda: bench_hosted.run(
            clients=8 if quick else 32, per_client=3 if quick else 10, rounds=30 if quick else 300
        ),
    }
    rows: list[Row] = []
    timings: dict[str, float] = {}
    failed = False
    for name in args.selected:
        say(f"== {name}")
        started = time.perf_counter()
        try:
            rows.extend(plan[name]())
        except Exception as err:  # one broken benchmark must not hide the others
            failed = True
            while isinstance(err, ExceptionGroup) and len(err.exceptions) == 1:
                err = err.exceptions[0]  # say what failed, not that a task group did
            say(f"{name}: failed: {type(err).__name__}: {err}"[:2000])
            rows.append(Row(name, "-", "failed", notes=f"{type(err).__name__}: {err}"[:300]))
        timings[name] = time.perf_counter() - started
    meta: dict[str, Any] = {
        "command": "python3 dev.py bench " + " ".join(argv),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "seconds": timings,
        "options": {k: v for k, v in vars(args).items() if k not in ("only",)},
    }
    path = write_results(rows, meta, **({"out": _path(args.out)} if args.out else {}))
    print(table(rows))
    say(f"results: {path}  ({sum(timings.values()):.0f} s in all)")
    if args.readme:
        write_readme(rows, meta)
        say("README.md: the benchmark table replaced")
    return 1 if failed else 0


def _path(raw: str) -> Path:
    return Path(raw)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
