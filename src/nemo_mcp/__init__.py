"""nemo-mcp: NemoVideo for AI assistants (MCP server, CLI, skills) plus a local emulator."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nemo-mcp")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
