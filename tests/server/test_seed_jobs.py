"""The three seed jobs, played the way a model plays them: through an MCP client, reading only
the results' content blocks and following only their ``Next:`` lines.

A scripted "model" knows what its user wants (the files and the requests, in order) and nothing
else: the first call comes from the tool descriptions; every later call is one the previous
result's ``Next:`` line names, with its placeholders filled in from the user's words. Each job
must end with the MP4 on disk, named in the text. Calls and bytes per job are recorded in
``.benchmarks-out/seed-jobs.json`` and printed, and the budget is checked: at most 4 calls per
job when generation and render finish inside the wait budget, at most 2 KB of text per job on
average, and a ``tools/list`` of at most 12 KB (5 KB for names, descriptions and input schemas).
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp import Client
from nemo_server_helpers import NEXT_CALL, Folders, check_mp4, next_line

from nemo_mcp.config import Settings
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from nemo_mcp.mcp.server import build_server
from support.emulator import fast_studio, run_sse_posts

pytestmark = pytest.mark.anyio

OUT = Path(__file__).resolve().parents[2] / ".benchmarks-out" / "seed-jobs.json"
MAX_CALLS = 4
MAX_TEXT_BYTES = 2000  # per job, on average
MAX_TOOLS_LIST = 12_000
MAX_TOOLS_BRIEF = 5_000  # names, descriptions and input schemas
MAX_NEXT_SHARE = 0.35  # of all text: the next steps are a small part of what a model reads
_EXPORTED = re.compile(r"^Exported and downloaded: (.+\.mp4) \(", re.MULTILINE)
_ARG = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\[[^\]]*\]|true|false|-?\d+(?:\.\d+)?)')


@dataclass(frozen=True)
class Job:
    name: str
    skill: str  # the seed skill the server acts as
    files: tuple[str, ...]
    requests: tuple[str, ...]  # what the user asks for, in order


JOBS = (
    Job(
        "music_video",
        "ai-music-video-clip-generator",
        ("song.mp3",),
        ("generate a music video clip synced to my song with matching visuals",),
    ),
    Job(
        "promo",
        "video-making-free-ai",
        ("photo1.jpg", "photo2.jpg", "photo3.jpg", "voiceover.mp3"),
        (
            "turn these photos and audio into a 30-second promo video with transitions",
            'add a title "Summer Sale" from 0 to 3 seconds',
        ),
    ),
    Job(
        "background_track",
        "music-generator-free-easy",
        (),
        ("generate a 30-second royalty-free background track for my video",),
    ),
)


@dataclass
class Turn:
    tool: str
    arguments: dict[str, Any]
    text: str
    next_line: str
    structured_bytes: int
    image_bytes: int


@dataclass
class Played:
    job: str
    calls: list[Turn] = field(default_factory=list)
    told_user: list[str] = field(default_factory=list)  # what the model relayed, not a call
    mp4: Path | None = None
    poster: bytes | None = None

    @property
    def text_bytes(self) -> int:
        return sum(len(c.text.encode()) for c in self.calls)

    @property
    def next_bytes(self) -> int:
        return sum(len(c.next_line.encode()) for c in self.calls)

    def record(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "calls": len(self.calls),
            "tools": [c.tool for c in self.calls],
            "text_bytes": self.text_bytes,
            "next_line_bytes": self.next_bytes,
            "structured_bytes": sum(c.structured_bytes for c in self.calls),
            "image_bytes": sum(c.image_bytes for c in self.calls),
        }


def _media(folder: Path, names: tuple[str, ...]) -> list[str]:
    colours = [(30, 90, 170), (170, 90, 30), (40, 150, 70)]
    paths = []
    for i, name in enumerate(names):
        path = folder / name
        if not path.exists():
            if name.endswith(".jpg"):
                synth.make_photo(path, f"Photo {i + 1}", color=colours[i % 3])
            else:
                synth.make_song(path, 6.0 if name == "song.mp3" else 5.0, bpm=120)
        paths.append(str(path))
    return paths


def _options(line: str) -> list[tuple[str, dict[str, Any]]]:
    """The calls a ``Next:`` line names: (tool, arguments)."""
    out = []
    for match in NEXT_CALL.finditer(line):
        call = match.group(0)
        name, inside = call.split("(", 1)
        args = {k: json.loads(v) for k, v in _ARG.findall(inside[:-1])}
        out.append((name, args))
    return out


def _fill(args: dict[str, Any], message: str) -> dict[str, Any]:
    """A placeholder or an example request becomes the user's own words."""
    return {k: (message if k == "message" else v) for k, v in args.items()}


async def play(client: Client, job: Job, media: Path, *, max_calls: int = 30) -> Played:
    """One job, as a model that reads only content blocks and follows only ``Next:`` lines."""
    played = Played(job.name)
    pending = list(job.requests)
    if job.files:  # the tool descriptions say where to start
        call: tuple[str, dict[str, Any]] = ("nemo_upload", {"items": _media(media, job.files)})
    else:
        call = ("nemo_chat", {"message": pending.pop(0)})
    while len(played.calls) < max_calls:
        name, arguments = call
        result = await client.call_tool(name, arguments)
        text = "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))
        images = [b for b in result.content if isinstance(b, types.ImageContent)]
        nxt = next_line(text)
        played.calls.append(
            Turn(
                name,
                arguments,
                text,
                nxt,
                len(json.dumps(result.structured_content or {}, separators=(",", ":"))),
                sum(len(b.data) for b in images),
            )
        )
        assert not result.is_error, text
        exported = _EXPORTED.search(text)
        if exported:
            played.mp4 = Path(exported.group(1))
            played.poster = base64.b64decode(images[0].data) if images else None
            return played
        options = _options(nxt)
        tools = [tool for tool, _ in options]
        assert tools or "register" in nxt, f"no next step after {name}:\n{text}"
        if "nemo_wait" in tools:  # the work goes on: keep waiting, nothing else
            call = options[tools.index("nemo_wait")]
        elif pending and "nemo_chat" in tools:
            call = ("nemo_chat", _fill(options[tools.index("nemo_chat")][1], pending.pop(0)))
        elif "nemo_export" in tools:
            if pending:  # what the user wanted cannot be done now: tell them, then export
                played.told_user.append(nxt)
                pending.clear()
            call = ("nemo_export", options[tools.index("nemo_export")][1])
        else:
            raise AssertionError(f"no Next option fits after {name}:\n{text}")
    raise AssertionError(f"{job.name}: no MP4 after {max_calls} calls")


def _luma(jpeg: bytes) -> tuple[float, float]:
    from PIL import Image, ImageStat

    stat = ImageStat.Stat(Image.open(io.BytesIO(jpeg)).convert("L"))
    return float(stat.mean[0]), float(stat.stddev[0])


def _first_frame_luma(path: Path) -> float:
    import av
    from PIL import ImageStat

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return float(ImageStat.Stat(frame.to_image().convert("L")).mean[0])


async def _tools_list_sizes(client: Client) -> dict[str, int]:
    tools = (await client.list_tools()).tools
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    full = json.dumps(
        {"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]},
        **compact,  # type: ignore[arg-type]
    )
    brief = json.dumps(
        [
            {"name": t.name, "description": t.description, "inputSchema": t.input_schema}
            for t in tools
        ],
        **compact,  # type: ignore[arg-type]
    )
    for tool in tools:
        for arg, schema in (tool.input_schema.get("properties") or {}).items():
            assert schema.get("description"), f"{tool.name}({arg}) has no description"
    return {"tools_list_bytes": len(full.encode()), "tools_brief_bytes": len(brief.encode())}


def _settings(emu: EmulatorServer, folders: Folders, job: Job, **extra: str) -> Settings:
    home = folders.root / job.name
    env = folders.env(emu.url, NEMO_SKILL=job.skill, **extra)
    env["NEMO_MCP_HOME"] = str(home / "state")
    env["NEMO_MCP_OUTPUT_DIR"] = str(home / "out")
    return Settings.from_env(env)


def _report(name: str, played: list[Played], sizes: dict[str, int]) -> dict[str, Any]:
    jobs = [p.record() for p in played]
    report = {
        "jobs": jobs,
        "average_text_bytes": sum(j["text_bytes"] for j in jobs) / len(jobs),
        "next_line_share": sum(j["next_line_bytes"] for j in jobs)
        / max(1, sum(j["text_bytes"] for j in jobs)),
        **sizes,
    }
    OUT.parent.mkdir(exist_ok=True)
    existing = json.loads(OUT.read_text()) if OUT.is_file() else {}
    OUT.write_text(json.dumps({**existing, name: report}, indent=2) + "\n")
    print(f"\nseed jobs ({name}):")
    for job in jobs:
        print(f"  {job['job']}: {job['calls']} calls {job['tools']}, {job['text_bytes']} B text")
    print(
        f"  average {report['average_text_bytes']:.0f} B text per job, next lines "
        f"{report['next_line_share']:.0%} of it"
    )
    if sizes:
        print(
            f"  tools/list {sizes['tools_list_bytes']} B (names, descriptions and input schemas "
            f"{sizes['tools_brief_bytes']} B)"
        )
    return report


async def test_the_three_seed_jobs_within_budget(emu: EmulatorServer, folders: Folders) -> None:
    played: list[Played] = []
    sizes: dict[str, int] = {}
    for job in JOBS:
        server = build_server(_settings(emu, folders, job), studio_factory=fast_studio)
        async with Client(server, mode="legacy") as client:  # type: ignore[arg-type]
            sizes = sizes or await _tools_list_sizes(client)
            done = await play(client, job, folders.media)
        played.append(done)
        assert done.mp4 is not None and not done.told_user, done
        info = check_mp4(done.mp4)
        assert done.mp4.parent == folders.root / job.name / "out"
        assert len(done.calls) <= MAX_CALLS, [c.tool for c in done.calls]
        # the poster shows the video: not the black first frame of its fade-in
        assert done.poster is not None
        luma, contrast = _luma(done.poster)
        assert luma > 40 and contrast > 10, (job.name, luma, contrast)
        assert _first_frame_luma(done.mp4) < 30  # what the old poster showed
        assert info["duration"] >= 5

    music_video, promo, track = played
    # the agent's own words reach the text, quoted and marked as its words
    for job in played:
        chats = [c for c in job.calls if c.tool == "nemo_chat"]
        assert chats and all("editing agent replied" in c.text for c in chats)
        assert all("\n> " in c.text for c in chats)
    # uploads lead to the request that fits the job (photos: the promo, not the music video)
    assert 'nemo_chat(message="turn these photos' in promo.calls[0].next_line
    assert "my song" in music_video.calls[0].next_line
    # after the promo's edit, the title is on the timeline the result shows
    assert 'Title: "Summer Sale"' in promo.calls[2].text
    assert [c.tool for c in track.calls] == ["nemo_chat", "nemo_export"]
    # what was spent, and what is left
    assert "Credits: 100 spent" in music_video.calls[1].text
    # a finished export suggests no new generation, and no chat result suggests the timeline
    for job in played:
        after_export = _options(job.calls[-1].next_line)
        assert after_export == [("nemo_chat", {"message": "<change>"}), ("nemo_export", {})]
        assert job.calls[-1].next_line.startswith("Next: give the user the file")
        for c in job.calls:
            if c.tool == "nemo_chat":
                assert "nemo_get_state" not in c.next_line

    report = _report("plenty_of_credits", played, sizes)
    assert report["average_text_bytes"] <= MAX_TEXT_BYTES, report
    assert report["next_line_share"] <= MAX_NEXT_SHARE, report
    assert sizes["tools_list_bytes"] <= MAX_TOOLS_LIST, sizes
    assert sizes["tools_brief_bytes"] <= MAX_TOOLS_BRIEF, sizes


async def test_a_fresh_anonymous_account_is_warned_before_it_runs_out(
    emu: EmulatorServer, folders: Folders
) -> None:
    """100 credits: the promo is made (about 100), and the user hears before the edit that
    nothing is left for it; the edit is never sent, the export (free) still happens."""
    emu.set_config(anon_credits=100)
    job = JOBS[1]
    server = build_server(_settings(emu, folders, job), studio_factory=fast_studio)
    async with Client(server, mode="legacy") as client:  # type: ignore[arg-type]
        done = await play(client, job, folders.media)
    upload, chat, export = done.calls
    assert "Credits: 100 left: enough for making the video" in upload.text
    assert "not for edits after it (about 50 each); estimates" in upload.text
    assert "Credits: 100 spent, 0 left: not enough for an edit (about 50; an estimate)" in chat.text
    assert "nemo_chat" not in chat.next_line and "register free at https://" in chat.next_line
    assert done.told_user == [chat.next_line]
    assert export.tool == "nemo_export" and done.mp4 is not None and done.mp4.is_file()
    assert run_sse_posts(emu) == 1  # the edit that could not be paid was never sent
    _report("fresh_anonymous_account", [done], {})


async def test_jobs_that_outlive_the_wait_budget_are_followed_to_the_end(
    emu: EmulatorServer, folders: Folders
) -> None:
    """Generation and render longer than a call waits: every result says to wait, with no id
    to copy, and the model gets the MP4 by following that line alone."""
    emu.set_config(generation_seconds=1.5, render_pending_seconds=1.0)
    job = JOBS[0]
    settings = _settings(emu, folders, job, NEMO_MCP_WAIT_SECONDS="0.4")
    server = build_server(settings, studio_factory=fast_studio)
    async with Client(server, mode="legacy") as client:  # type: ignore[arg-type]
        done = await play(client, job, folders.media)
    tools = [c.tool for c in done.calls]
    assert tools[:2] == ["nemo_upload", "nemo_chat"] and "nemo_wait" in tools
    assert tools.count("nemo_chat") == 1 and tools.count("nemo_export") == 1
    for c in done.calls:
        if c.tool == "nemo_wait":
            assert c.arguments == {}  # the latest job is the default
    assert done.mp4 is not None and check_mp4(done.mp4)
    assert run_sse_posts(emu) == 1
