"""The answer to ``tools/list``, kept between runs so that a server answers it without building
its tools.

Building the tools means importing the studio's result models and generating nine argument
models and their JSON schemas: most of what a server would otherwise do before its first
``tools/list``. The compact list the server answered last time is saved in the state folder
under a fingerprint of what shapes it (this version, the skill, and the files that define the
tools and their descriptions); a server whose fingerprint matches answers from the file, and
builds its tools only when one is called. Anything else (no file, another fingerprint, a file
that does not parse) builds the list and saves it again. Saving is best effort: a read-only
state folder only costs the time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent.parent
# What the tool list is made of: the MCP face, the result models, the descriptions' facts.
SOURCES = ("mcp", "studio/views.py", "faces.py", "constants.py", "manifest.py")
FORMAT = 1


def fingerprint(skill: str, manifests: Path | None = None) -> str:
    from nemo_mcp import __version__

    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0{skill}".encode())
    paths: list[Path] = []
    for name in SOURCES:
        path = PACKAGE / name
        paths.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    if manifests is not None:
        paths.extend(sorted(manifests.glob("*.json")))
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        digest.update(f"{path.name}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return digest.hexdigest()


class Catalog:
    """The saved ``tools/list`` answer of one skill, in one state folder."""

    def __init__(self, home: Path, skill: str, manifests: Path | None = None) -> None:
        self.path = home / "cache" / f"tools-{skill}.json"
        self._skill = skill
        self._manifests = manifests

    def load(self) -> list[dict[str, Any]] | None:
        try:
            raw = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("fingerprint") != self._fingerprint():
            return None
        tools = raw.get("tools")
        return tools if isinstance(tools, list) else None

    def save(self, tools: list[dict[str, Any]]) -> None:
        body = json.dumps({"fingerprint": self._fingerprint(), "tools": tools})
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(body, encoding="utf-8")
            os.replace(temp, self.path)  # atomic: another server never reads half a file
        except OSError as err:
            log.debug("could not save the tool list: %s", err)
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)

    def _fingerprint(self) -> str:
        return fingerprint(self._skill, self._manifests)
