"""``nemo-mcp serve`` as most hosts meet it: over stdio, under the TypeScript SDK's client.

The 1.x client (@modelcontextprotocol/sdk, what Claude Desktop, Cursor, VS Code and most hosts
embed) validates every result's structuredContent against the tool's output schema, error
results included, and throws instead of returning a result that does not match. So a test
passes here only if the client accepted every result it was given.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from nemo_server_helpers import TOOL_NAMES, Folders, check_mp4
from node_clients import TsClient, assert_readable_error, inspector, text_of

from nemo_mcp.emulator import EmulatorServer
from support.emulator import MUSIC_VIDEO, TITLE_EDIT
from support.processes import stdio_params

ERROR_KINDS_V1 = (
    "invalid_input",
    "unsafe_path",
    "unsupported_file",
    "file_too_large",
    "session_not_found",
    "no_credits",
    "export_blocked",
    "render_failed",
    "connection",
    "server_error",
    "auth",
)


def _upload(ts: TsClient, song: Path) -> str:
    up = ts.call("nemo_upload", {"items": [str(song)]})
    assert up.get("isError") is not True, text_of(up)
    return str(up["structuredContent"]["session_id"])


def test_whole_workflow_under_the_ts_sdk_1x(emu: EmulatorServer, folders: Folders) -> None:
    """Upload, chat, state, export, wait, resources and every other tool, all accepted."""
    with TsClient("v1", folders.env(emu.url)) as ts:
        info = ts.ok("info")
        assert info["server"]["name"] == "nemo-mcp" and info["era"] == "legacy"
        tools = ts.ok("list_tools")["tools"]
        assert sorted(t["name"] for t in tools) == sorted(TOOL_NAMES)
        assert all(t.get("outputSchema") for t in tools)

        sid = _upload(ts, folders.song)
        chat = ts.call("nemo_chat", {"message": MUSIC_VIDEO})
        assert chat["structuredContent"]["status"] == "replied", text_of(chat)
        assert chat["progress"], "no progress notifications reached the client"
        state = ts.call("nemo_get_state")
        assert state["structuredContent"]["export_ready"] is True, text_of(state)
        assert ts.call("nemo_get_credits")["structuredContent"]["available"] > 0

        export = ts.call("nemo_export", {"filename": "ts-client.mp4"})
        data = export["structuredContent"]
        assert data["status"] == "downloaded", text_of(export)
        assert [c["type"] for c in export["content"]] == [
            "text",
            "resource_link",  # the file
            "image",  # the poster
            "image",  # the storyboard
            "resource_link",  # the storyboard's resource
            "resource_link",  # the render's status
        ]
        check_mp4(Path(data["file"]))
        render_id = data["render_id"]
        waited = ts.call("nemo_wait", {"job_id": render_id, "wait_seconds": 0})
        assert waited["structuredContent"]["done"] is True, text_of(waited)

        timeline = ts.ok("read_resource", uri=f"nemo://sessions/{sid}/timeline")
        assert "Ready to export" in timeline["contents"][0]["text"]
        render = ts.ok("read_resource", uri=f"nemo://renders/{render_id}")
        assert '"downloaded"' in render["contents"][0]["text"]

        # the menu and completion, as a host shows them
        prompts = ts.ok("list_prompts")["prompts"]
        assert [p["name"] for p in prompts][:2] == ["music_video", "promo_video"]
        got = ts.ok("get_prompt", name="music_video", arguments={"song": str(folders.song)})
        assert str(folders.song) in got["messages"][0]["content"]["text"]
        ref = {"type": "ref/resource", "uri": "nemo://sessions/{session_id}/timeline"}
        done = ts.ok("complete", ref=ref, argument={"name": "session_id", "value": ""})
        assert done["completion"]["values"] == [sid]
        song = ts.ok(
            "complete",
            ref={"type": "ref/prompt", "name": "music_video"},
            argument={"name": "song", "value": "my"},
        )
        assert song["completion"]["values"] == [str(folders.song)]

        edit = ts.call("nemo_chat", {"message": TITLE_EDIT})
        assert edit.get("isError") is not True, text_of(edit)
        new = ts.call("nemo_new_session", {"title": "Second"})
        assert new["structuredContent"]["session_id"] != sid
        listed = ts.call("nemo_list_sessions")
        assert len(listed["structuredContent"]["sessions"]) == 2
        # a finished render cannot be cancelled: an error result, read like the others
        cancel = ts.call("nemo_cancel_render", {"render_id": render_id})
        if cancel.get("isError"):
            assert_readable_error(cancel, "invalid_input")


def _error_kinds(ts: TsClient, emu: EmulatorServer, folders: Folders) -> dict[str, str]:
    """Provoke each kind of error through ``ts``; returns the text of each (kind -> text)."""
    seen: dict[str, str] = {}

    def expect(kind: str, name: str, args: dict[str, Any] | None = None, *words: str) -> None:
        seen.setdefault(kind, assert_readable_error(ts.call(name, args), kind, *words))

    # arguments the input schema rejects, and ones the studio rejects: the same form
    expect("invalid_input", "nemo_chat", {"message": ""}, "The message is empty")
    expect("invalid_input", "nemo_chat", {"message": "   "}, "Say what to make or change")
    expect("invalid_input", "nemo_wait", {"job_id": "job_42; rm -rf"}, "not a valid job_id")
    expect("invalid_input", "nemo_wait", {"job_id": "turn_000000"}, "turn_000000")
    expect("invalid_input", "nemo_chat", {"message": "x", "wait_seconds": 9999}, "at most 840")
    expect("invalid_input", "nemo_upload", {"items": "song.mp3"}, "must be a list")
    expect("invalid_input", "nemo_no_such_tool", {}, "nemo_upload")
    expect("invalid_input", "nemo_export", {}, "Nothing to export")

    outside = folders.root / "outside.mp3"
    shutil.copyfile(folders.song, outside)
    expect("unsafe_path", "nemo_upload", {"items": [str(outside)]}, "NEMO_MCP_ALLOWED_DIRS")
    notes = folders.media / "notes.txt"
    notes.write_text("not media")
    expect("unsupported_file", "nemo_upload", {"items": [str(notes)]}, "mp4")
    emu.set_config(upload_limit_mb=0.001)
    expect("file_too_large", "nemo_upload", {"items": [str(folders.song)]})
    emu.set_config(upload_limit_mb=500)

    sid = _upload(ts, folders.song)
    emu.delete_session(sid)
    expect("session_not_found", "nemo_get_state", {}, "timeline is gone")
    _upload(ts, folders.song)
    user = next(iter(emu.state.users))
    emu.set_credits(0, user_id=user)
    expect("no_credits", "nemo_chat", {"message": MUSIC_VIDEO}, "register")
    emu.set_credits(10_000, user_id=user)
    ready = ts.call("nemo_chat", {"message": MUSIC_VIDEO})
    assert ready.get("isError") is not True, text_of(ready)

    emu.set_faults("render_submit:402")
    expect("export_blocked", "nemo_export", {}, "not a credit problem")
    emu.set_faults("render_poll:fail")
    expect("render_failed", "nemo_export", {"force": True})
    emu.set_faults("credits:reset")
    expect("connection", "nemo_get_credits", {}, "NEMO_API_URL")
    emu.set_faults("credits:500")
    expect("server_error", "nemo_get_credits", {}, "try again")
    emu.clear_faults()
    return seen


def test_every_error_kind_under_the_ts_sdk_1x(emu: EmulatorServer, folders: Folders) -> None:
    with TsClient("v1", folders.env(emu.url)) as ts:
        seen = _error_kinds(ts, emu, folders)
    # a NEMO_TOKEN that NemoVideo rejects: replace it (never swapped for an anonymous one)
    with TsClient("v1", folders.env(emu.url, NEMO_TOKEN="nmv_usr_not0a0known0token")) as ts:
        seen["auth"] = assert_readable_error(ts.call("nemo_get_credits"), "auth", "NEMO_TOKEN")
    assert sorted(seen) == sorted(ERROR_KINDS_V1)


@pytest.mark.slow
@pytest.mark.parametrize("sdk", ["v2", "v2-modern"])
def test_every_error_kind_under_the_ts_sdk_2x(
    emu: EmulatorServer, folders: Folders, sdk: str
) -> None:
    with TsClient(sdk, folders.env(emu.url)) as ts:
        assert ts.ok("info")["era"] == ("modern" if sdk == "v2-modern" else "legacy")
        seen = _error_kinds(ts, emu, folders)
    assert sorted(seen) == sorted(set(ERROR_KINDS_V1) - {"auth"})


@pytest.mark.slow
@pytest.mark.anyio
async def test_every_client_reads_the_same_error(emu: EmulatorServer, folders: Folders) -> None:
    """The Python SDK's client, the TypeScript SDK 1.x and 2.x clients (both eras) and the
    Inspector CLI all get the same text for the same error, whatever raised it."""
    outside = folders.root / "outside.mp3"
    shutil.copyfile(folders.song, outside)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("nemo_chat", {"message": ""}),  # the input schema
        ("nemo_export", {}),  # the studio: nothing to export
        ("nemo_upload", {"items": [str(outside)]}),  # the path check
    ]
    env = folders.env(emu.url)
    texts: dict[str, list[str]] = {}
    for mode in ("legacy", "auto"):
        async with Client(stdio_client(stdio_params(env)), mode=mode) as client:  # type: ignore[arg-type]
            results = [await client.call_tool(name, args) for name, args in cases]
            assert all(r.is_error and r.structured_content is None for r in results)
            texts[f"python-{mode}"] = [
                "\n".join(c.text for c in r.content if c.type == "text") for r in results
            ]
    for sdk in ("v1", "v2", "v2-modern"):
        with TsClient(sdk, env) as ts:
            texts[sdk] = [text_of(ts.call(name, args)) for name, args in cases]
    inspected = []
    for name, args in cases:
        code, out, err = inspector(
            env, "--method", "tools/call", "--tool-name", name, "--tool-args-json", json_of(args)
        )
        assert code == 5 and "isError" in err, (code, out, err)  # 5: "the tool returned isError"
        inspected.append(text_of(out["result"]))
    texts["inspector"] = inspected

    reference = texts["v1"]
    assert [t.split(":")[0] for t in reference] == [
        "Error (invalid_input)",
        "Error (invalid_input)",
        "Error (unsafe_path)",
    ]
    for client_name, got in texts.items():
        assert got == reference, client_name


def json_of(args: dict[str, Any]) -> str:
    return json.dumps(args)
