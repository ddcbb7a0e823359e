"""Helpers for the MCP server tests: a fast emulator, settings pointing at it, a recording MCP
client wrapper, MP4 checks and request counting (imported by conftest and the tests)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types

from support.results import Result

SENTINEL_TOKEN = "nmv_usr_SENTINEL0server0token0never0leaks0"
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


NEXT_CALL = re.compile(r'\b(nemo_[a-z_]+)\((?:[^()"]|"(?:[^"\\]|\\.)*")*\)')


def next_line(text: str) -> str:
    """The one ``Next:`` line of a result's text (a model reads nothing else about it)."""
    lines = [line for line in text.splitlines() if line.startswith("Next: ")]
    assert len(lines) <= 1, text
    return lines[0] if lines else ""


def next_tools(call: Result) -> list[str]:
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
