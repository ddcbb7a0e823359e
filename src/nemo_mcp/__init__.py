"""nemo-mcp: NemoVideo for AI assistants (MCP server, CLI, skills) plus a local emulator.

As a library::

    from nemo_mcp import Settings, Studio

    async with Studio.open(Settings.from_env()) as studio:
        await studio.upload(["song.mp3"])
        turn = await studio.chat("make a music video synced to my song")
        video = await studio.export()

``Studio`` is the operations users think in (sessions, uploads, chat turns, exports, credits);
``NemoClient`` is the API underneath, one method per endpoint; ``Settings`` reads the
environment; every error is a ``NemoError`` (``str(e)`` is safe to show, ``e.hint`` says what
to do next). Names are imported on first use, so ``import nemo_mcp`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nemo_mcp.api.client import NemoClient
    from nemo_mcp.config import Settings
    from nemo_mcp.errors import NemoError
    from nemo_mcp.studio.facade import Studio

__all__ = ["NemoClient", "NemoError", "Settings", "Studio", "__version__"]

_HOMES = {
    "NemoClient": "nemo_mcp.api.client",
    "NemoError": "nemo_mcp.errors",
    "Settings": "nemo_mcp.config",
    "Studio": "nemo_mcp.studio.facade",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nemo-mcp")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _HOMES:
        value = getattr(import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'nemo_mcp' has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
