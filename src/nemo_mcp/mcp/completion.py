"""``completion/complete``: what a client offers while someone types an argument.

- the resource templates' ``session_id`` (``nemo://sessions/{session_id}/...``): the sessions
  this computer knows, the current one first, then the most recent;
- ``render_id`` (``nemo://renders/{render_id}``): renders, most recent first;
- a prompt's file argument (``song``, ``media``): media files in the allowed folders and the
  client's roots, most recently changed first, as full paths (what the upload tool takes);
- a prompt argument with ``choices`` (``ratio``, ``mood``...): those choices.

Matching is a case-insensitive prefix of the value (for files: of the name or the full path).
At most 100 values are returned (the spec's limit), with ``total`` and ``hasMore``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.types import (
    Completion,
    ListRootsRequest,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
)
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from nemo_mcp.contract.media import SUPPORTED_EXTENSIONS
from nemo_mcp.manifest import PromptSpec
from nemo_mcp.mcp.resources import RENDERS_PREFIX, SESSIONS_PREFIX

if TYPE_CHECKING:
    from nemo_mcp.studio.facade import Studio

log = logging.getLogger(__name__)

MAX_VALUES = 100  # the spec's cap on completion values
SCAN_DEPTH = 2  # folder levels below an allowed folder or root that are searched
ROOTS_TIMEOUT = 5.0  # seconds to wait for the client's roots/list answer
SCAN_ENTRIES = 5000  # entries looked at per completion, at most (a root may be a home folder)
MEDIA_SUFFIXES = frozenset(f".{ext}" for ext in SUPPORTED_EXTENSIONS)


async def complete(
    studio: Studio,
    prompts: Sequence[PromptSpec],
    ref: PromptReference | ResourceTemplateReference,
    name: str,
    value: str,
    folders: Sequence[Path],
) -> Completion:
    if isinstance(ref, ResourceTemplateReference):
        if name == "session_id" and ref.uri.startswith(SESSIONS_PREFIX):
            return _matching(session_ids(studio), value)
        if name == "render_id" and ref.uri.startswith(RENDERS_PREFIX):
            return _matching((r.render_id for r in studio.store.list_renders()), value)
        return Completion(values=[])
    spec = next((p for p in prompts if p.name == ref.name), None)
    argument = next((a for a in spec.arguments if a.name == name), None) if spec else None
    if argument is None:
        return Completion(values=[])
    if argument.kind == "file":
        files = await anyio.to_thread.run_sync(media_files, folders)  # a disk walk: off the loop
        return _matching_files(files, value)
    return _matching(argument.choices, value)


async def client_roots(ctx: ServerRequestContext[Any, Any]) -> ListRootsResult | None:
    """The client's roots, when it declares them and can be asked: only on 2025-era connections
    (the 2026-07-28 revision has no server-to-client request outside a tool call, and deprecates
    roots; the allowed folders are the lasting way to name them)."""
    caps = ctx.session.client_capabilities
    if caps is None or caps.roots is None or ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return None
    try:
        with anyio.fail_after(ROOTS_TIMEOUT):
            return await ctx.session.send_request(ListRootsRequest(), ListRootsResult)
    except Exception:  # a client that cannot answer just gets the allowed folders
        log.debug("roots/list during completion failed", exc_info=True)
        return None


def session_ids(studio: Studio) -> list[str]:
    """Live sessions, the current one first, then newest first."""
    api_url = studio.settings.api_url
    current = studio.store.current_session(api_url)
    ids = [s.session_id for s in studio.store.list_sessions(api_url) if not s.gone]
    if current is not None and current.session_id in ids:
        ids.remove(current.session_id)
        ids.insert(0, current.session_id)
    return ids


def media_files(folders: Sequence[Path]) -> list[Path]:
    """Media files under ``folders`` (a few levels deep, hidden entries skipped), the most
    recently changed first."""
    seen: set[Path] = set()
    found: list[tuple[float, Path]] = []
    budget = [SCAN_ENTRIES]
    for folder in folders:
        for path in _walk(folder.expanduser(), SCAN_DEPTH, budget):
            if path.suffix.lower() in MEDIA_SUFFIXES and path not in seen:
                seen.add(path)
                try:
                    found.append((path.stat().st_mtime, path))
                except OSError:
                    continue
    found.sort(key=lambda item: (-item[0], str(item[1])))
    return [path for _, path in found]


def _walk(folder: Path, depth: int, budget: list[int]) -> Iterator[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if budget[0] <= 0:
            return
        budget[0] -= 1
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file():
                yield Path(entry.path)
            elif entry.is_dir(follow_symlinks=False) and depth > 0:
                yield from _walk(Path(entry.path), depth - 1, budget)
        except OSError:
            continue


def _matching(values: Iterable[str], typed: str) -> Completion:
    prefix = typed.casefold()
    hits = [v for v in values if v.casefold().startswith(prefix)]
    return _capped(hits)


def _matching_files(paths: Iterable[Path], typed: str) -> Completion:
    prefix = typed.casefold()
    hits = [
        str(p)
        for p in paths
        if p.name.casefold().startswith(prefix) or str(p).casefold().startswith(prefix)
    ]
    return _capped(hits)


def _capped(hits: list[str]) -> Completion:
    return Completion(values=hits[:MAX_VALUES], total=len(hits), has_more=len(hits) > MAX_VALUES)
