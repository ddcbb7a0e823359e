"""Shared machinery of the reliability and security suite.

- :class:`Ledger`: one per test session. Every emulator a test starts is *harvested* when the test
  ends: the chat messages it accepted (a message run twice is a duplicate), the renders it knows
  (each must have reached a terminal state in a state store) and every token it issued (for the
  leak scan). Output folders are scanned for partial files. Every tool result, progress message,
  exception text, log record and server stderr the suite sees is kept for the token scan.
- :class:`Rig`: one per test. Starts emulators, lays out private folders, builds the in-memory MCP
  server (short poll interval, short turn-recovery waits) and hands out recording MCP clients.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.mcpserver import MCPServer

from nemo_mcp.config import Settings
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.errors import NemoError
from nemo_mcp.mcp.server import build_server
from nemo_mcp.media import containers
from nemo_mcp.media.probe import probe as probe_media
from nemo_mcp.store.sqlite import SQLiteStore
from nemo_mcp.studio.turns import TurnLimits
from support.emulator import FAST, LIMITS, fast_studio
from support.processes import clean_env, free_port, stdio_params
from support.results import Result, ToolClient

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / ".benchmarks-out"


TERMINAL_RENDER = frozenset({"downloaded", "failed", "cancelled"})
SENTINEL_TOKEN = "nmv_usr_RELIABILITY0sentinel0token0must0never0leak"


# --------------------------------------------------------------------------------- the ledger
@dataclass
class Ledger:
    """Counters and captured text across the whole session (see the module docstring)."""

    texts: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    messages_accepted: int = 0
    duplicates: list[str] = field(default_factory=list)
    renders_seen: int = 0
    renders_lost: list[str] = field(default_factory=list)
    files_checked: int = 0
    partial_files: list[str] = field(default_factory=list)
    tool_calls: int = 0
    log_records: int = 0
    emulators: int = 0
    # folders tests keep outside the allowed ones (secrets an attack tries to reach), and every
    # file the product opened for reading in them (the audit hook below)
    outside_dirs: set[str] = field(default_factory=set)
    outside_reads: list[str] = field(default_factory=list)
    opens_audited: int = 0
    # peak resident memory (KiB) of processes fed hostile answers, and of the same process fed
    # a normal one (the baseline), by scenario
    peak_rss_kb: dict[str, int] = field(default_factory=dict)
    chat_races: int = 0  # identical chat messages sent at once (each must reach the agent once)
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)  # for the report

    def __repr__(self) -> str:
        return f"Ledger({len(self.texts)} texts, {len(self.tokens)} tokens)"

    def keep(self, *texts: str) -> None:
        self.texts.extend(t for t in texts if t)

    def keep_error(self, exc: BaseException) -> None:
        """An exception's text, repr, hint and details, and those of its causes."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.keep(str(current), repr(current))
            if isinstance(current, NemoError):
                self.keep(json.dumps(current.to_dict(), default=str))
            current = current.__cause__ or current.__context__

    def keep_result(self, res: Result) -> None:
        self.tool_calls += 1
        self.keep(res.result.model_dump_json(), *(m or "" for _, _, m in res.progress))

    def watch(self, client: Client) -> ToolClient:
        """``client`` as a :class:`ToolClient` whose every result, error and read is kept."""
        return ToolClient(
            client, on_result=self.keep_result, on_error=self.keep_error, on_read=self.keep
        )

    def harvest(
        self,
        emu: EmulatorServer,
        homes: Iterable[Path],
        outputs: Iterable[Path],
        exempt_renders: set[str],
    ) -> None:
        """Count what one emulator saw; check it against the state stores and output folders."""
        self.emulators += 1
        with emu.state.lock:
            histories = {
                sid: [h.get("text", "") for h in sess.history if h.get("role") == "user"]
                for sid, sess in emu.state.sessions.items()
            }
            renders = [(r.render_id, r.status) for r in emu.state.renders.values()]
            self.tokens.update(emu.state.tokens)
        self.tokens.update(emu.config.registered_tokens)
        for sid, texts in histories.items():
            self.messages_accepted += len(texts)
            for text, n in Counter(texts).items():
                if n > 1:
                    self.duplicates.append(f"session {sid}: {text[:60]!r} x{n}")
        records = {}
        for home in homes:
            if (home / "state.db").exists():
                with SQLiteStore(home) as store:
                    for rec in store.list_renders():
                        records[rec.render_id] = rec.status
        for render_id, remote_status in renders:
            if render_id in exempt_renders:
                continue
            self.renders_seen += 1
            status = records.get(render_id)
            if status not in TERMINAL_RENDER:
                self.renders_lost.append(f"{render_id}: server {remote_status}, store {status}")
        for folder in outputs:
            self.partial_files.extend(partial_files(folder, self))

    def leaks(self) -> list[str]:
        """Where a token appears in captured text (never the token itself): any token an
        emulator of this suite issued, and anything shaped like a bearer token (so tokens of
        tests in other folders, captured from their logs, are caught too)."""
        found = []
        secrets = [t for t in self.tokens if len(t) >= 8]
        for n, text in enumerate(self.texts):
            if any(secret in text for secret in secrets):
                found.append(f"captured text #{n} ({len(text)} chars) holds a known token")
            elif not no_token_shapes(text):
                found.append(f"captured text #{n} ({len(text)} chars) holds a token-shaped value")
        return found

    def counters(self) -> dict[str, Any]:
        hostile = [v for k, v in self.peak_rss_kb.items() if k != "baseline"]
        return {
            "chat_messages_accepted": self.messages_accepted,
            "chat_messages_sent_twice": len(self.duplicates),
            "identical_chats_raced": self.chat_races,
            "bytes_held_peak_mb": round(max(hostile) / 1024, 1) if hostile else None,
            "bytes_held_baseline_mb": (
                round(self.peak_rss_kb["baseline"] / 1024, 1)
                if "baseline" in self.peak_rss_kb
                else None
            ),
            "files_outside_allowed_read": len(self.outside_reads),
            "file_opens_audited": self.opens_audited,
            "renders_submitted": self.renders_seen,
            "render_jobs_lost": len(self.renders_lost),
            "output_files_checked": self.files_checked,
            "partial_files_left": len(self.partial_files),
            "tool_calls": self.tool_calls,
            "texts_scanned_for_tokens": len(self.texts),
            "log_records_scanned": self.log_records,
            "tokens_scanned_for": len(self.tokens),
            "token_leaks": len(self.leaks()),
            "emulators": self.emulators,
        }

    def details(self) -> dict[str, Any]:
        return {
            "duplicates": self.duplicates,
            "renders_lost": self.renders_lost,
            "partial_files": self.partial_files,
            "outside_reads": self.outside_reads,
            "peak_rss_kb": self.peak_rss_kb,
            "measurements": self.measurements,
        }

    # --- the audit hook -----------------------------------------------------------------------
    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """``sys.addaudithook`` target: count the product's reads of files in outside folders.

        A read counts when the code opening the file is nemo-mcp's (not a test's, not the
        emulator's) and the file really opened lies in a folder registered as outside. An open
        that cannot follow a symlink (``O_NOFOLLOW`` on a symlink) reads nothing and does not
        count.
        """
        if event != "open" or not self.outside_dirs:
            return
        try:
            path, mode, flags = [*args, None, None, None][:3]
            if isinstance(path, int) or path is None:
                return
            if isinstance(mode, str) and any(c in mode for c in "wax+"):
                return
            if mode is None and isinstance(flags, int) and flags & os.O_ACCMODE != os.O_RDONLY:
                return
            raw = os.fsdecode(path)
            frame = sys._getframe(1)
            if not os.path.isabs(raw):  # relative to a folder (``dir_fd``) or to the cwd
                dir_fd = frame.f_locals.get("dir_fd") if frame is not None else None
                if isinstance(dir_fd, int):
                    raw = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), raw)
            nofollow = isinstance(flags, int) and flags & getattr(os, "O_NOFOLLOW", 0)
            if nofollow and os.path.islink(raw):
                return
            real = os.path.realpath(raw)
            where = next(
                (d for d in self.outside_dirs if real == d or real.startswith(d + os.sep)), None
            )
            ours = False
            while frame is not None:
                name = str(frame.f_globals.get("__name__", ""))
                if name.startswith("nemo_mcp") and not name.startswith("nemo_mcp.emulator"):
                    ours = True
                    break
                frame = frame.f_back  # type: ignore[assignment]
            if not ours:
                return
            self.opens_audited += 1
            if where is not None:
                self.outside_reads.append(f"{Path(real).name} in {Path(where).name}")
        except Exception:  # an audit hook must never break the code it watches
            return


# Ledgers the audit hook reports to (the session's, and a test's own while it checks the hook).
AUDITORS: list[Ledger] = []


def audit_all(event: str, args: tuple[Any, ...]) -> None:
    if event == "open":
        for ledger in list(AUDITORS):
            ledger.audit(event, args)


def mp4_problem(path: Path) -> str | None:
    """Why a file in an output folder is not a complete, playable MP4 (None: it is)."""
    if path.stat().st_size == 0:
        return "empty"
    if containers.sniff(path) != "isobmff":
        return "not an MP4 container"
    probe = probe_media(path)
    if probe is None or probe.video_codec is None:
        return "no decodable video"
    return None


def partial_files(folder: Path, ledger: Ledger | None = None) -> list[str]:
    """``*.part`` files, empty files and broken MP4s under ``folder``."""
    found: list[str] = []
    if not folder.exists():
        return found
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if ledger is not None:
            ledger.files_checked += 1
        if path.name.endswith(".part"):
            found.append(f"{path.name}: temporary download file left behind")
        elif path.suffix.lower() == ".mp4":
            problem = mp4_problem(path)
            if problem:
                found.append(f"{path.name}: {problem}")
        elif path.stat().st_size == 0:
            found.append(f"{path.name}: empty")
    return found


class CaptureHandler(logging.Handler):
    """Keeps every log record's final text (and traceback) for the token scan."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(logging.DEBUG)
        self.ledger = ledger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is still scanned raw
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.ledger.log_records += 1
        self.ledger.keep(text)


# ----------------------------------------------------------------------------------- the rig
@dataclass
class Media:
    song: Path
    photo: Path
    clip: Path


class Rig:
    """One test's emulators, folders and MCP clients; harvested into the ledger at the end."""

    def __init__(self, ledger: Ledger, root: Path, cache: Media) -> None:
        self.ledger = ledger
        self.root = root
        self.home = root / "state"
        self.out = root / "out"
        self.media_dir = root / "media"
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.song = self.media_dir / "my-song.mp3"
        shutil.copyfile(cache.song, self.song)
        self.photo = self.media_dir / "photo.jpg"
        shutil.copyfile(cache.photo, self.photo)
        self.clip = self.media_dir / "clip.mp4"
        shutil.copyfile(cache.clip, self.clip)
        self.homes: list[Path] = [self.home]
        self.outputs: list[Path] = [self.out]
        self.exempt: set[str] = set()
        self._emulators: list[EmulatorServer] = []
        self._closed = False

    def outside(self, name: str = "outside") -> Path:
        """A folder beside the allowed one whose files nemo-mcp must never read."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        self.ledger.outside_dirs.add(os.path.realpath(folder))
        return folder

    # --- emulators and settings -------------------------------------------------------------
    def emulator(self, **config: Any) -> EmulatorServer:
        emu = EmulatorServer(**{**FAST, **config})
        emu.start()
        self._emulators.append(emu)
        return emu

    def env(self, emu: EmulatorServer, **extra: str) -> dict[str, str]:
        return {
            "NEMO_API_URL": emu.url,
            "NEMO_WEB_URL": emu.url,
            "NEMO_MCP_HOME": str(self.home),
            "NEMO_MCP_OUTPUT_DIR": str(self.out),
            "NEMO_MCP_ALLOWED_DIRS": str(self.media_dir),
            **extra,
        }

    def settings(self, emu: EmulatorServer, **extra: str) -> Settings:
        return Settings.from_env(self.env(emu, **extra))

    def server(self, settings: Settings, limits: TurnLimits = LIMITS) -> MCPServer:
        return build_server(settings, studio_factory=lambda s: fast_studio(s, limits))

    @asynccontextmanager
    async def tools(
        self,
        emu: EmulatorServer,
        *,
        mode: str = "auto",
        limits: TurnLimits = LIMITS,
        **env: str,
    ) -> AsyncIterator[ToolClient]:
        server = self.server(self.settings(emu, **env), limits)
        async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
            yield self.ledger.watch(client)

    def stdio(self, env: Mapping[str, str]) -> StdioServerParameters:
        """``python -m nemo_mcp serve`` with a clean NemoVideo environment plus ``env``."""
        return stdio_params({"NEMO_MCP_LOG_LEVEL": "DEBUG", **env})

    # --- harvesting -------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for emu in self._emulators:
            emu.stop()
            self.ledger.harvest(emu, self.homes, self.outputs, self.exempt)


def accepted_messages(emu: EmulatorServer) -> list[str]:
    with emu.state.lock:
        return [
            str(h.get("text"))
            for sess in emu.state.sessions.values()
            for h in sess.history
            if h.get("role") == "user"
        ]


def submitted_render_ids(emu: EmulatorServer) -> list[str]:
    with emu.state.lock:
        return sorted(emu.state.renders, key=lambda rid: emu.state.renders[rid].created_at)


def store_renders(home: Path) -> dict[str, str]:
    with SQLiteStore(home) as store:
        return {r.render_id: r.status for r in store.list_renders()}


_TOKENISH = re.compile(r"nmv_usr_[A-Za-z0-9_\-]{8,}")


def no_token_shapes(text: str) -> bool:
    """True when ``text`` holds nothing shaped like a bearer token."""
    return _TOKENISH.search(text) is None


@contextmanager
def http_served(
    rig: Rig, env: Mapping[str, str], *args: str, port: int | None = None
) -> Iterator[tuple[str, int]]:
    """``nemo-mcp serve --http`` in a subprocess: yields (MCP URL, port); stderr is scanned."""
    port = port or free_port()
    log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "nemo_mcp", "serve", "--http", "--port", str(port), *args],
        env=clean_env({"NEMO_MCP_LOG_LEVEL": "DEBUG", **env}),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the HTTP server exited early: {log.read()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        rig.ledger.keep(log.read())
        log.close()


@asynccontextmanager
async def stdio_tools(rig: Rig, env: Mapping[str, str], **params: Any) -> AsyncIterator[ToolClient]:
    """A real MCP client on a ``nemo-mcp serve`` stdio subprocess; its stderr is scanned."""
    errlog = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
    try:
        server = rig.stdio(env)
        if params:
            server = server.model_copy(update=params)
        async with Client(stdio_client(server, errlog=errlog)) as client:
            yield rig.ledger.watch(client)
    finally:
        errlog.seek(0)
        rig.ledger.keep(errlog.read())
        errlog.close()


@asynccontextmanager
async def http_tools(rig: Rig, url: str) -> AsyncIterator[ToolClient]:
    async with Client(url) as client:
        yield rig.ledger.watch(client)
