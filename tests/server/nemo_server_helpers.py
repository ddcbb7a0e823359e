"""Helpers for the MCP server tests: a fast emulator, settings pointing at it, a recording MCP
client wrapper, MP4 checks and request counting (imported by conftest and the tests)."""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import mcp.types as types
from mcp import Client, StdioServerParameters

from nemo_mcp.config import Settings
from nemo_mcp.contract import paths
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.mcp.results import ERROR_META_KEY
from nemo_mcp.studio.facade import Studio
from nemo_mcp.studio.turns import TurnLimits

# A fast emulator: short generations, tiny renders, no random silent turns, plenty of credits.
FAST: dict[str, Any] = {
    "generation_seconds": 0.15,
    "edit_seconds": 0.02,
    "heartbeat_interval": 0.05,
    "render_pending_seconds": 0.05,
    "render_max_side": 320,
    "render_preset": "ultrafast",
    "broken_stream_apply_delay": 0.3,
    "silent_edits": "never",
    "anon_credits": 10_000,
}

# Short turn-recovery waits (the contract's are 30 s / 60 s) and a quick render poll.
LIMITS = TurnLimits(
    recovery_first_wait=0.3,
    recovery_next_wait=0.3,
    recovery_max_unchanged=3,
    progress_every=1.0,
)


def fast_studio(settings: Settings) -> AbstractAsyncContextManager[Studio]:
    return Studio.open(settings, face="mcp", poll_interval=0.2, turn_limits=LIMITS)


SENTINEL_TOKEN = "nmv_usr_SENTINEL0server0token0never0leaks0"
MUSIC_VIDEO = "make a music video synced to my song"
TITLE_EDIT = 'add a title "Summer" from 0 to 3 seconds'
TOOL_NAMES = (
    "nemo_upload",
    "nemo_chat",
    "nemo_get_state",
    "nemo_get_credits",
    "nemo_export",
    "nemo_wait",
    "nemo_cancel_render",
    "nemo_new_session",
    "nemo_list_sessions",
)


@dataclass
class Folders:
    root: Path
    home: Path
    out: Path
    media: Path
    song: Path

    def env(self, api_url: str, **extra: str) -> dict[str, str]:
        """The server's environment variables for these folders and this emulator."""
        return {
            "NEMO_API_URL": api_url,
            "NEMO_MCP_HOME": str(self.home),
            "NEMO_MCP_OUTPUT_DIR": str(self.out),
            "NEMO_MCP_ALLOWED_DIRS": str(self.media),
            **extra,
        }


def clean_env(env: Mapping[str, str]) -> dict[str, str]:
    """This environment without NemoVideo settings from outside, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NEMO_", "SKILL_"))}
    return {**base, **env}


def stdio_params(env: Mapping[str, str]) -> StdioServerParameters:
    """``nemo-mcp serve`` over stdio in a subprocess, with a clean NemoVideo environment."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "nemo_mcp", "serve"], env=clean_env(env)
    )


Progress = list[tuple[float, float | None, str | None]]


@dataclass
class Call:
    name: str
    arguments: dict[str, Any]
    result: types.CallToolResult
    progress: Progress

    @property
    def text(self) -> str:
        return "\n".join(c.text for c in self.result.content if isinstance(c, types.TextContent))

    @property
    def data(self) -> dict[str, Any]:
        data = self.result.structured_content
        assert isinstance(data, dict), self.text
        return data

    @property
    def error(self) -> dict[str, Any]:
        """An error result's machine-readable form (``_meta``); it has no structuredContent."""
        assert self.result.is_error, self.text
        err = (self.result.meta or {}).get(ERROR_META_KEY)
        assert isinstance(err, dict), self.result
        return err


@dataclass
class Recorder:
    """Wraps an MCP ``Client``: every call is checked and kept (for token scans)."""

    client: Client
    calls: list[Call] = field(default_factory=list)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)  # resource and prompt texts read

    async def load_schemas(self) -> None:
        for tool in (await self.client.list_tools()).tools:
            if tool.output_schema is not None:
                self.schemas[tool.name] = tool.output_schema

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> Call:
        """Call a tool; progress notes are collected; an error result is returned, not raised."""
        if not self.schemas:
            await self.load_schemas()
        progress: Progress = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        args = dict(arguments or {})
        result = await self.client.call_tool(name, args, progress_callback=on_progress)
        call = Call(name, args, result, progress)
        self.calls.append(call)
        assert call.text.strip(), f"{name} returned no text"
        if not result.is_error:
            jsonschema.validate(result.structured_content, self.schemas[name])
        else:  # every client reads it: nothing an output schema would reject
            assert result.structured_content is None, (name, result.structured_content)
            assert call.text.startswith("Error ("), call.text
        return call

    async def ok(self, name: str, arguments: dict[str, Any] | None = None) -> Call:
        call = await self.call(name, arguments)
        assert not call.result.is_error, call.text
        assert_increasing(call.progress)
        return call

    async def fail(self, name: str, arguments: dict[str, Any] | None = None) -> Call:
        call = await self.call(name, arguments)
        assert call.result.is_error, call.text
        return call

    async def read(self, uri: str) -> str:
        result = await self.client.read_resource(uri)
        content = result.contents[0]
        assert isinstance(content, types.TextResourceContents)
        self.texts.append(content.text)
        return content.text

    def dump(self) -> str:
        """Everything the client was given, as one string (for token scans)."""
        parts = list(self.texts)
        for call in self.calls:
            parts.append(call.result.model_dump_json())
            parts.extend(m or "" for _, _, m in call.progress)
        return "\n".join(parts)


def assert_increasing(progress: Progress) -> None:
    values = [p for p, _, _ in progress]
    assert all(b > a for a, b in itertools.pairwise(values)), values


NEXT_CALL = re.compile(r'\b(nemo_[a-z_]+)\((?:[^()"]|"(?:[^"\\]|\\.)*")*\)')


def next_line(text: str) -> str:
    """The one ``Next:`` line of a result's text (a model reads nothing else about it)."""
    lines = [line for line in text.splitlines() if line.startswith("Next: ")]
    assert len(lines) <= 1, text
    return lines[0] if lines else ""


def next_tools(call: Call) -> list[str]:
    """The tool calls the result's ``Next:`` line names, in order."""
    return [m.group(0) for m in NEXT_CALL.finditer(next_line(call.text))]


def check_mp4(path: Path, *, min_seconds: float = 1.0) -> dict[str, Any]:
    """Probe an MP4 with PyAV: h264 video, aac audio, a sane size and duration."""
    import av

    assert path.is_file() and path.stat().st_size > 0, path
    with av.open(str(path)) as container:
        assert container.streams.video and container.streams.audio, path
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        info = {
            "video": video.codec_context.name,
            "audio": audio.codec_context.name,
            "width": int(video.codec_context.width),
            "height": int(video.codec_context.height),
            "duration": float(container.duration or 0) / 1_000_000,
        }
    assert info["video"] == "h264", info
    assert info["audio"] == "aac", info
    assert info["width"] > 0 and info["height"] > 0, info
    assert info["duration"] >= min_seconds, info
    return info


def requests_to(emu: EmulatorServer, endpoint: str, method: str | None = None) -> int:
    return len([r for r in emu.requests(endpoint=endpoint) if method is None or r.method == method])


def run_sse_posts(emu: EmulatorServer) -> int:
    return len([r for r in emu.requests(path=paths.RUN_SSE) if r.method == "POST"])


def render_submits(emu: EmulatorServer) -> int:
    return len([r for r in emu.requests(path=paths.RENDER) if r.method == "POST"])


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, timeout: float = 10.0, every: float = 0.05
) -> None:
    """Wait until ``check()`` is true (for effects in another process or thread)."""
    with anyio.fail_after(timeout):
        while True:
            got = check()
            if not isinstance(got, bool):
                got = await got
            if got:
                return
            await anyio.sleep(every)


def expected_tools_path() -> Path:
    return Path(__file__).with_name("expected_tools.json")


def tool_digest(tool: types.Tool) -> dict[str, Any]:
    """The reviewable shape of a tool: what a change to it must show in a diff."""
    ann = tool.annotations
    schema = tool.input_schema or {}
    return {
        "title": tool.title,
        "annotations": {
            "readOnlyHint": ann.read_only_hint if ann else None,
            "destructiveHint": ann.destructive_hint if ann else None,
            "idempotentHint": ann.idempotent_hint if ann else None,
            "openWorldHint": ann.open_world_hint if ann else None,
        },
        "input": sorted((schema.get("properties") or {}).keys()),
        "required": sorted(schema.get("required") or []),
        "output": sorted(((tool.output_schema or {}).get("properties") or {}).keys()),
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
