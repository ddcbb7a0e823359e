"""``nemo-mcp demo``: the first seed's workflow, end to end, through a real MCP stdio server.

1. starts the embedded NemoVideo emulator on a loopback port;
2. writes a short generated song;
3. launches ``nemo-mcp serve`` as a stdio MCP server under the SDK's MCP client;
4. uploads the song, asks for "a music video clip synced to my song", shows the timeline,
   exports, and prints the path of the MP4 it downloaded.

Nothing leaves the machine. Point any MCP client at the emulator the same way by setting
``NEMO_API_URL`` to the URL it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

SEED_REQUEST = "generate a music video clip synced to my song with matching visuals"
SERVER_LOG = "server.log"  # the MCP server's stderr, in the --out folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("nemo-mcp-demo"),
        help="folder for the demo's song, state and exported MP4 (default: ./nemo-mcp-demo)",
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the song")
    parser.add_argument("--message", default=SEED_REQUEST, help="what to ask the editing agent for")


def _say(step: str, text: str = "") -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {step}" + (f": {text}" if text else ""), flush=True)


def _structured(result: Any) -> tuple[Mapping[str, Any], str]:
    """A result's data, and its text as the model reads it."""
    text = "\n".join(getattr(c, "text", "") for c in result.content if c.type == "text")
    if result.is_error:
        raise RuntimeError(text or "the tool call failed")
    data = result.structured_content
    assert isinstance(data, Mapping)
    return data, text.replace("\n", "\n      ")


async def _run(out: Path, seconds: float, message: str) -> Path:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    from nemo_mcp.emulator import EmulatorServer
    from nemo_mcp.emulator.render.synth import make_song

    out = out.resolve()
    media_dir = out / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    song = media_dir / "my-song.mp3"
    _say("1/6 writing a song", f"{seconds:.0f} s -> {song}")
    make_song(song, seconds)

    with EmulatorServer(data_dir=out / "emulator") as emu:
        _say("2/6 NemoVideo emulator listening", emu.url)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("NEMO_", "SKILL_"))},
            "NEMO_API_URL": emu.url,
            "NEMO_MCP_HOME": str(out / "state"),
            "NEMO_MCP_OUTPUT_DIR": str(out / "exports"),
            "NEMO_MCP_ALLOWED_DIRS": str(media_dir),
            "NEMO_SKILL": "ai-music-video-clip-generator",
        }
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "nemo_mcp", "serve"], env=env
        )

        # The server's stderr goes to a file: it keeps the demo's output readable, and works
        # where sys.stderr is not a real file (IDEs, notebooks, captured output).
        with (out / SERVER_LOG).open("w", encoding="utf-8") as errlog:
            return await _drive(Client(stdio_client(params, errlog=errlog)), song, message)


async def _drive(client: Any, song: Path, request: str) -> Path:
    async def progress(progress: float, total: float | None, message: str | None) -> None:
        if message:
            _say("      progress", message)

    async with client:
        tools = [t.name for t in (await client.list_tools()).tools]
        _say("3/6 MCP server started over stdio", ", ".join(tools))

        _, up = _structured(await client.call_tool("nemo_upload", {"items": [str(song)]}))
        _say("4/6 uploaded", up)

        turn, said = _structured(
            await client.call_tool(
                "nemo_chat",
                {"message": request, "wait_seconds": 300},
                progress_callback=progress,
            )
        )
        _say("5/6 agent", said)
        sid = str(turn["session_id"])
        timeline = await client.read_resource(f"nemo://sessions/{sid}/timeline")
        _say("      timeline", getattr(timeline.contents[0], "text", ""))

        exported, done = _structured(
            await client.call_tool("nemo_export", {"wait_seconds": 600}, progress_callback=progress)
        )
        if not exported.get("file"):
            raise RuntimeError(f"the export did not finish: {json.dumps(exported)[:400]}")
        _say("6/6 exported", done)
        return Path(str(exported["file"]))


def run(args: argparse.Namespace) -> int:
    try:
        path = anyio.run(_run, args.out, args.seconds, args.message)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        print(f"demo failed: {err}", file=sys.stderr)
        log = Path(args.out) / SERVER_LOG
        if log.is_file():
            print(f"(the MCP server's log is {log.resolve()})", file=sys.stderr)
        return 1
    print(f"\nYour music video: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nemo-mcp demo", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
