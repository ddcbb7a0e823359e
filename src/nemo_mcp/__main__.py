"""The ``nemo-mcp`` command (``python -m nemo_mcp``, and the console script).

A bare ``nemo-mcp serve`` (what MCP clients run, and then wait for) goes straight to the server,
without the command line's parser and modules: its start-up is the time to the first
``tools/list``. Everything else goes to the command line (``nemo_mcp.cli``).
"""

from __future__ import annotations

import sys


def run() -> int:
    if sys.argv[1:] == ["serve"]:
        return _serve_stdio()
    from nemo_mcp.cli import main

    return main()


def _serve_stdio() -> int:
    """``nemo-mcp serve`` with no options: what the command line does for it, minus the
    parsing (errors are told the same way)."""
    try:
        from nemo_mcp.config import Settings
        from nemo_mcp.redact import setup_logging

        settings = Settings.from_env()
        setup_logging(settings.log_level)
        from nemo_mcp.mcp.server import serve

        serve(settings=settings)
        return 0
    except BaseException as raw:
        from nemo_mcp.cli.context import EXIT_ERROR, EXIT_INTERRUPTED, exit_code_for, first_error
        from nemo_mcp.errors import NemoError
        from nemo_mcp.redact import redact

        err = first_error(raw)
        if isinstance(err, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if isinstance(err, SystemExit):
            return err.code if isinstance(err.code, int) else EXIT_ERROR
        if isinstance(err, NemoError):
            print(redact(f"error ({err.kind}): {err}"), file=sys.stderr, flush=True)
            return exit_code_for(err)
        message = redact(f"{type(err).__name__}: {err}")[:500]
        print(f"error: nemo-mcp hit an unexpected error ({message}).", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(run())
