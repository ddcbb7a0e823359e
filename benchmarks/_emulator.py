"""``python -m benchmarks._emulator '<json config>'``: the emulator in its own process.

Prints its URL on one line, then serves until its standard input is closed.
"""

from __future__ import annotations

import json
import sys

from nemo_mcp.emulator import EmulatorServer


def main(argv: list[str]) -> int:
    config = json.loads(argv[0]) if argv else {}
    with EmulatorServer(**config) as emu:
        print(emu.url, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
