"""The ``nemo-mcp`` command line.

main      parsing, dispatch, printing, exit codes
parser    every command and option
context   what a command gets and returns; the exit codes
commands  the session commands (ask, upload, chat, state, credits, export, wait, ...)
account   login, logout, whoami (through the studio)
admin     doctor, serve, install, skill build, emulator, demo
output    results as text or ``--json``
progress  progress on stderr
route     free text routed to a command (``ask``)
"""

from __future__ import annotations

from nemo_mcp.cli.main import main

__all__ = ["main"]
