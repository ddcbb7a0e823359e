"""Entry point of the NemoVideo MCP bundle: runs ``nemo-mcp serve`` over stdio.

The bundle's manifest starts the server with ``uvx --from nemo-mcp==<version> nemo-mcp serve``;
this file does the same for a Python that already has the ``nemo-mcp`` package installed.
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from nemo_mcp.cli import main as cli_main
    except ImportError:
        print(
            "nemo-mcp is not installed for this Python: pip install nemo-mcp (or install uv, "
            "which the bundle uses to fetch it).",
            file=sys.stderr,
        )
        return 1
    return cli_main(["serve"])


if __name__ == "__main__":
    raise SystemExit(main())
