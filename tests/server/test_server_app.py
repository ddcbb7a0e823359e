"""The MCP App as a host meets it, through a real MCP client against the emulator: the ``ui://``
resource and its CSP, the tools bound to it only for a client that advertised MCP Apps, the
storyboard (an image in the export result and a resource) and the timeline as clips for the app,
while a client without Apps gets the same text and pictures.

The app itself, in a real browser, is ``tests/app/test_app_browser.py``.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import AsyncIterator

import httpx
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.server.mcpserver import MCPServer
from nemo_server_helpers import Folders
from PIL import Image

from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.mcp.apps import APP_META_KEY, APP_URI, BOUND_TOOLS
from nemo_mcp.media.frames import is_telling
from nemo_mcp.media.storyboard import MAX_STORYBOARD_BYTES
from support.emulator import MUSIC_VIDEO, TITLE_EDIT
from support.results import ToolClient

pytestmark = pytest.mark.anyio

APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


@pytest.fixture
async def host(server: MCPServer, mode: str) -> AsyncIterator[ToolClient]:
    """A client that advertises MCP Apps, as Claude, ChatGPT or VS Code do."""
    async with Client(server, mode=mode, extensions=[APPS]) as client:  # type: ignore[arg-type]
        recorder = ToolClient(client)
        await recorder.load_schemas()
        yield recorder


def _bound(tools: list[types.Tool]) -> dict[str, str]:
    return {t.name: t.meta["ui"]["resourceUri"] for t in tools if t.meta and "ui" in t.meta}


async def test_tools_point_at_the_app_only_for_a_client_with_apps(
    host: ToolClient, mcp: ToolClient
) -> None:
    assert _bound((await host.client.list_tools()).tools) == dict.fromkeys(BOUND_TOOLS, APP_URI)
    assert _bound((await mcp.client.list_tools()).tools) == {}


async def test_the_app_resource_is_one_self_contained_page(
    host: ToolClient, emu: EmulatorServer
) -> None:
    listed = {r.uri: r for r in (await host.client.list_resources()).resources}
    assert listed[APP_URI].mime_type == APP_MIME_TYPE
    read = await host.client.read_resource(APP_URI)
    content = read.contents[0]
    assert isinstance(content, types.TextResourceContents)
    assert content.mime_type == APP_MIME_TYPE
    csp = (content.meta or listed[APP_URI].meta or {})["ui"]["csp"]
    # the player may load NemoVideo's CDN, and here the emulator, which serves the renders
    assert "https://*.nemovideo.ai" in csp["resourceDomains"]
    assert emu.url.rstrip("/") in csp["resourceDomains"]
    html = content.text
    assert html.lstrip().lower().startswith("<!doctype html>") and "<script" in html
    # nothing is fetched at run time: no external script, style, font or image
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", html, re.I)
    assert "@import" not in html and "fonts.googleapis" not in html


def _images(result: types.CallToolResult) -> dict[str, bytes]:
    return {
        c.mime_type: base64.b64decode(c.data)
        for c in result.content
        if isinstance(c, types.ImageContent)
    }


async def test_export_shows_a_storyboard_and_the_app_gets_the_clips(
    host: ToolClient, mcp: ToolClient, folders: Folders
) -> None:
    await host.ok("nemo_upload", {"items": [str(folders.song)]})
    await host.ok("nemo_chat", {"message": MUSIC_VIDEO})
    await host.ok("nemo_chat", {"message": TITLE_EDIT})
    export = await host.ok("nemo_export")
    images = _images(export.result)
    assert set(images) == {"image/jpeg", "image/png"}  # the poster and the storyboard
    board = Image.open(io.BytesIO(images["image/png"]))
    assert board.format == "PNG" and len(images["image/png"]) <= MAX_STORYBOARD_BYTES
    assert board.width > board.height > 60
    assert is_telling(board)  # frames, not a blank sheet
    links = [c for c in export.result.content if isinstance(c, types.ResourceLink)]
    sheet = next(link for link in links if link.mime_type == "image/png")
    assert re.fullmatch(r"6 frames at [0-9., ]+ s", sheet.description or ""), sheet.description
    read = await host.client.read_resource(sheet.uri)
    blob = read.contents[0]
    assert isinstance(blob, types.BlobResourceContents) and blob.mime_type == "image/png"
    assert base64.b64decode(blob.blob) == images["image/png"]

    timeline = (export.result.meta or {})[APP_META_KEY]
    assert timeline["storyboard"]["columns"] == 3 and len(timeline["storyboard"]["times"]) == 6
    roles = [t["role"] for t in timeline["tracks"]]
    assert roles == ["Video", "BGM", "Title"], timeline
    video, _, title = timeline["tracks"]
    assert len(video["clips"]) >= 2 and all(c["end_s"] > c["start_s"] for c in video["clips"])
    assert title["clips"] == [{"start_s": 0.0, "end_s": 3.0, "label": "Summer", "volume_pct": None}]

    # a host without Apps: the same text and pictures, and nothing app-only
    state = await mcp.ok("nemo_get_state")
    assert APP_META_KEY not in (state.result.meta or {})
    assert '"Summer"' in state.text and "BGM" in state.text
    again = await mcp.ok("nemo_export")  # the same timeline: not rendered again
    assert set(_images(again.result)) == {"image/jpeg", "image/png"}
    assert again.text.strip() and APP_META_KEY not in (again.result.meta or {})


async def test_the_emulator_cdn_serves_a_browser_player(mcp: ToolClient, folders: Folders) -> None:
    """Range (a <video> seeks with it) and CORS (a page on another origin may read it)."""
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    url = (await mcp.ok("nemo_export")).data["url"]
    origin = {"Origin": "http://127.0.0.1:1"}
    async with httpx.AsyncClient() as http:
        part = await http.get(url, headers={**origin, "Range": "bytes=100-199"})
        whole = await http.get(url, headers=origin)
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"].startswith("bytes 100-199/")
    assert part.content == whole.content[100:200]
    assert part.headers["access-control-allow-origin"] == "*"
    assert "content-range" in part.headers["access-control-expose-headers"]
    assert whole.headers["content-type"] == "video/mp4"
