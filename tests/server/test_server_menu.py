"""What a person picks from and types into: the prompt menu, argument completion, the server's
name, description and icon, and readable errors for resources and arguments (in memory, both
protocol eras)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from pathlib import Path

import mcp.types as types
import pytest
from mcp import Client, MCPError
from mcp.client.session import ClientRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import INVALID_PARAMS
from nemo_server_helpers import Folders

from nemo_mcp.config import Settings
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.manifest import BASE_MANIFEST, all_manifests, load_manifest
from nemo_mcp.mcp.server import build_server
from support.emulator import MUSIC_VIDEO, fast_studio
from support.results import ToolClient

pytestmark = pytest.mark.anyio

MENU = {
    "music_video": "Make a music video for a song",
    "promo_video": "Make a promo video from photos and clips",
    "background_track": "Make a royalty-free background track",
    "add_title": "Add a title to the video",
    "music_volume": "Set the background music volume",
    "aspect_ratio": "Change the aspect ratio (9:16 for Shorts and Reels)",
}


def _template(uri: str) -> types.ResourceTemplateReference:
    return types.ResourceTemplateReference(type="ref/resource", uri=uri)


def _prompt(name: str) -> types.PromptReference:
    return types.PromptReference(type="ref/prompt", name=name)


async def test_prompts_read_like_a_menu(mcp: ToolClient) -> None:
    prompts = (await mcp.client.list_prompts()).prompts
    assert {p.name: p.title for p in prompts} == MENU  # names are stable: never renamed
    for prompt in prompts:
        assert prompt.title and prompt.description
        assert prompt.title[0].isupper() and not prompt.title.endswith((".", "…", "-"))
        assert len(prompt.description) > 40, prompt.name
        for arg in prompt.arguments or []:
            assert arg.description and len(arg.description) > 10, (prompt.name, arg.name)
    args = {p.name: [(a.name, a.required) for a in p.arguments or []] for p in prompts}
    assert args["music_video"] == [("song", False), ("visuals", False)]
    assert args["add_title"] == [("text", True), ("start", False), ("end", False)]


async def test_prompt_messages(mcp: ToolClient) -> None:
    got = await mcp.client.get_prompt("music_video", {"song": "/music/song.mp3"})
    [msg] = got.messages
    assert msg.role == "user" and isinstance(msg.content, types.TextContent)
    assert msg.content.text == (
        "First upload /music/song.mp3 with nemo_upload.\n"
        "Then use nemo_chat to send NemoVideo this message: generate a music video clip synced "
        "to my song with matching visuals\n"
        "When the timeline is ready (nemo_get_state), export it with nemo_export and show me "
        "the file."
    )
    bare = (await mcp.client.get_prompt("music_video", {})).messages[0].content
    assert isinstance(bare, types.TextContent)
    assert "If this session has no song uploaded yet, ask me for it" in bare.text
    title = (await mcp.client.get_prompt("add_title", {"text": "Summer", "end": "4"})).messages
    content = title[0].content
    assert isinstance(content, types.TextContent)
    assert content.text.startswith(
        'Use nemo_chat to send NemoVideo this message: add a title "Summer" from 0 to 4 seconds\n'
    )
    assert "upload" not in content.text
    track = (await mcp.client.get_prompt("background_track", {"mood": "calm piano"})).messages
    assert isinstance(track[0].content, types.TextContent)
    assert "30-second royalty-free calm piano background track" in track[0].content.text
    with pytest.raises(MCPError) as missing:  # a required argument is missing
        await mcp.client.get_prompt("add_title", {})
    assert missing.value.error.code == INVALID_PARAMS
    assert missing.value.error.message == "The prompt add_title needs these arguments: text."
    with pytest.raises(MCPError) as blank:  # as the prompt would render it: not given
        await mcp.client.get_prompt("add_title", {"text": "  "})
    assert blank.value.error.message == "The prompt add_title needs these arguments: text."
    with pytest.raises(MCPError) as unknown:
        await mcp.client.get_prompt("nope", {})
    assert unknown.value.error.code == INVALID_PARAMS
    assert unknown.value.error.message.startswith("Unknown prompt: nope. The prompts: ")
    assert "music_video" in unknown.value.error.message


def test_every_manifest_offers_prompts_with_one_meaning_per_name() -> None:
    base = {p.name: p for p in load_manifest(BASE_MANIFEST).prompts}
    for name, manifest in all_manifests().items():
        assert manifest.prompts, name
        for prompt in manifest.prompts:
            assert prompt == base[prompt.name], (name, prompt.name)
            defaults = {a.name: a.default or "x" for a in prompt.arguments}
            request = prompt.request.format_map(defaults)
            assert "{" not in request and len(prompt.title) <= 60


async def test_each_skill_serves_its_own_menu(folders: Folders, emu: EmulatorServer) -> None:
    settings = Settings.from_env(folders.env(emu.url, NEMO_SKILL="music-generator-free-easy"))
    async with Client(build_server(settings, studio_factory=fast_studio)) as client:
        names = [p.name for p in (await client.list_prompts()).prompts]
    assert names == ["background_track"]


async def test_completion_of_sessions_and_renders(mcp: ToolClient, folders: Folders) -> None:
    empty = await mcp.client.complete(
        _template("nemo://sessions/{session_id}/timeline"), {"name": "session_id", "value": ""}
    )
    assert empty.completion.values == []
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    first = (await mcp.ok("nemo_list_sessions")).data["current_session_id"]
    await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    render = (await mcp.ok("nemo_export")).data["render_id"]
    second = (await mcp.ok("nemo_new_session", {"title": "two"})).data["session_id"]
    await mcp.ok("nemo_get_state", {"session_id": first})  # using it does not make it current

    for uri in ("nemo://sessions/{session_id}/timeline", "nemo://sessions/{session_id}/draft"):
        got = await mcp.client.complete(_template(uri), {"name": "session_id", "value": ""})
        assert got.completion.values == [second, first]  # the current one first, then newest
        assert got.completion.total == 2 and got.completion.has_more is False
    prefix = first[:3] if first[:3] != second[:3] else first
    narrowed = await mcp.client.complete(
        _template("nemo://sessions/{session_id}/timeline"), {"name": "session_id", "value": prefix}
    )
    assert first in narrowed.completion.values
    assert all(v.startswith(prefix) for v in narrowed.completion.values)
    renders = await mcp.client.complete(
        _template("nemo://renders/{render_id}"), {"name": "render_id", "value": "render_"}
    )
    assert renders.completion.values == [render]
    nothing = await mcp.client.complete(
        _template("nemo://renders/{render_id}"), {"name": "render_id", "value": "zzz"}
    )
    assert nothing.completion.values == [] and nothing.completion.total == 0


async def test_completion_of_prompt_arguments(
    server: MCPServer, folders: Folders, mode: str, tmp_path: Path
) -> None:
    """Media files from the allowed folders and the client's roots (newest first, full paths
    that nemo_upload takes), nothing else; choices for arguments that have them."""
    project = tmp_path / "project"
    (project / "takes").mkdir(parents=True)
    clip = Path(shutil.copyfile(folders.song, project / "takes" / "Chorus.mp3"))
    (project / "notes.txt").write_text("not media")
    (project / ".hidden.mp3").write_bytes(b"x")
    old = time.time() - 3600
    os.utime(folders.song, (old, old))

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=project.as_uri(), name="project")])

    async with Client(server, mode=mode, list_roots_callback=roots) as client:  # type: ignore[arg-type]
        got = await client.complete(_prompt("music_video"), {"name": "song", "value": ""})
        values = got.completion.values
        if mode == "legacy":  # roots can only be asked for on a 2025-era connection
            assert values == [str(clip), str(folders.song)]
        else:
            assert values == [str(folders.song)]
        typed = await client.complete(_prompt("music_video"), {"name": "song", "value": "my-"})
        assert typed.completion.values == [str(folders.song)]
        by_path = await client.complete(
            _prompt("promo_video"), {"name": "media", "value": str(folders.media) + "/"}
        )
        assert by_path.completion.values == [str(folders.song)]
        ratio = await client.complete(_prompt("aspect_ratio"), {"name": "ratio", "value": "1"})
        assert ratio.completion.values == ["16:9", "1:1"]
        none = await client.complete(_prompt("add_title"), {"name": "text", "value": "S"})
        assert none.completion.values == []
        unknown = await client.complete(_prompt("no_such_prompt"), {"name": "x", "value": ""})
        assert unknown.completion.values == []


async def test_server_identity(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        info = client.server_info
        assert info.name == "nemo-mcp" and info.title == "NemoVideo"
        assert info.website_url == "https://nemovideo.com"
        assert info.description and "NemoVideo" in info.description
        icons = info.icons or []
        assert [i.mime_type for i in icons] == ["image/png", "image/svg+xml"]
        for icon in icons:
            match = re.fullmatch(r"data:([a-z/+]+);base64,(.+)", icon.src)
            assert match and match.group(1) == icon.mime_type
            data = base64.b64decode(match.group(2))
            assert data.startswith((b"\x89PNG", b"<svg"))
        caps = client.server_capabilities
        assert caps is not None and caps.completions is not None


def test_the_icon_is_a_real_picture() -> None:
    from PIL import Image

    import nemo_mcp

    png = Path(nemo_mcp.__file__).parent / "assets" / "icon.png"
    with Image.open(png) as img:
        assert img.size == (64, 64)
        rgba = img.convert("RGBA")
    centre = rgba.getpixel((36, 32))  # inside the play symbol
    corner = rgba.getpixel((0, 0))  # outside the rounded square
    assert isinstance(centre, tuple) and isinstance(corner, tuple)
    assert min(centre[:3]) > 240 and centre[3] == 255, centre
    assert corner[3] == 0, corner
    assert len(set(rgba.getdata())) > 8  # a gradient, not a flat square


async def test_unknown_resources_are_not_found(mcp: ToolClient) -> None:
    with pytest.raises(MCPError) as err:
        await mcp.client.read_resource("nemo://renders/render_nope")
    assert err.value.error.code == types.INVALID_PARAMS
    assert "No render 'render_nope'" in err.value.error.message
    assert "Next step:" in err.value.error.message
    for uri in ("nemo://sessions/nosuchsession/timeline", "nemo://sessions/nosuchsession/draft"):
        with pytest.raises(MCPError) as err:
            await mcp.client.read_resource(uri)
        assert err.value.error.code == types.INVALID_PARAMS, uri
        # the same words as the tools use for an unknown session
        assert err.value.error.message.startswith("Error (session_not_found): "), uri
        assert "Check the id (`nemo_list_sessions()`" in err.value.error.message, uri


async def test_a_resource_that_cannot_be_read_is_not_called_missing(
    mcp: ToolClient, emu: EmulatorServer
) -> None:
    """A session the server cannot read right now (nothing cached) is an error in its own
    kind and words, not "not found"."""
    sid = (await mcp.ok("nemo_new_session", {"title": "unreadable"})).data["session_id"]
    emu.set_faults("state:401")
    try:
        with pytest.raises(MCPError) as err:
            await mcp.client.read_resource(f"nemo://sessions/{sid}/timeline")
    finally:
        emu.clear_faults()
    assert err.value.error.code != types.INVALID_PARAMS
    assert err.value.error.message.startswith("Error (") and "session_not_found" not in (
        err.value.error.message
    )


async def test_unexpected_crash_is_an_error_result(server: MCPServer, mode: str) -> None:
    """A crash in a tool is an error result that names a next step; its details stay in the
    server log."""

    async def broken() -> str:
        raise RuntimeError("secret internals")

    server.add_tool(broken, name="nemo_broken")
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        mcp = ToolClient(client)
        call = await mcp.fail("nemo_broken")
    assert call.error["kind"] == "internal"
    assert "secret internals" not in call.text
    assert call.text.startswith("Error (internal): nemo-mcp hit an unexpected problem running")
    assert "Next step: Check the session with nemo_get_state" in call.text
