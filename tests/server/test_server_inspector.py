"""The MCP Inspector CLI (the debugging tool the README recommends; pinned in tests/node)
against ``nemo-mcp serve`` over stdio: every tool once, the prompt menu and the resource
templates. Each Inspector run starts its own server process; the session lives on in the state
folder between them, as it does between a host's restarts.

The Inspector exits 0 for a result, 5 for an error result (``tool_is_error``), and reports a
result it cannot use (for example structured content its output schema rejects) as another
failure; stdout holds the result either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nemo_server_helpers import TOOL_NAMES, Folders, check_mp4
from node_clients import assert_readable_error, inspector, text_of

from nemo_mcp.emulator import EmulatorServer
from support.emulator import MUSIC_VIDEO

pytestmark = pytest.mark.slow


def _call(env: dict[str, str], name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    code, out, err = inspector(
        env,
        "--method",
        "tools/call",
        "--tool-name",
        name,
        "--tool-args-json",
        json.dumps(args or {}),
    )
    assert "result" in out, (code, out, err)
    result: dict[str, Any] = out["result"]
    if result.get("isError"):
        assert code == 5 and "tool_is_error" in err, (code, err)
    else:
        assert code == 0, (code, err, text_of(result))
        assert isinstance(result.get("structuredContent"), dict), result
    return result


def test_every_tool_through_the_inspector(emu: EmulatorServer, folders: Folders) -> None:
    env = folders.env(emu.url)
    code, listed, err = inspector(env, "--method", "tools/list", "--strict")
    assert code == 0, (code, err)  # --strict: no tool-schema portability problem
    assert sorted(t["name"] for t in listed["result"]["tools"]) == sorted(TOOL_NAMES)

    called: dict[str, dict[str, Any]] = {}

    def call(name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        called[name] = _call(env, name, args)
        return called[name]

    up = call("nemo_upload", {"items": [str(folders.song)]})
    sid = up["structuredContent"]["session_id"]
    chat = call("nemo_chat", {"message": MUSIC_VIDEO})
    assert chat["structuredContent"]["status"] == "replied", text_of(chat)
    assert call("nemo_get_state")["structuredContent"]["export_ready"] is True
    assert call("nemo_get_credits")["structuredContent"]["available"] > 0
    export = call("nemo_export")["structuredContent"]
    assert export["status"] == "downloaded"
    check_mp4(Path(export["file"]))
    waited = call("nemo_wait", {"job_id": export["render_id"], "wait_seconds": 0})
    assert waited["structuredContent"]["done"] is True
    cancel = call("nemo_cancel_render", {"render_id": export["render_id"]})
    if cancel.get("isError"):  # it had finished: a readable error, not a failure to read
        assert_readable_error(cancel, "invalid_input")
    new = call("nemo_new_session", {"title": "second"})["structuredContent"]["session_id"]
    listed_sessions = call("nemo_list_sessions")["structuredContent"]
    assert {s["session_id"] for s in listed_sessions["sessions"]} == {sid, new}
    assert sorted(called) == sorted(TOOL_NAMES)

    # an error result reads the same in the modern era
    code, out, err = inspector(
        env,
        "--protocol-era",
        "modern",
        "--method",
        "tools/call",
        "--tool-name",
        "nemo_wait",
        "--tool-args-json",
        json.dumps({"job_id": "job_1"}),
    )
    assert code == 5, (code, err)
    assert_readable_error(out["result"], "invalid_input", '"job_1" is not a valid job_id')


def test_prompts_and_templates_through_the_inspector(folders: Folders, emu: EmulatorServer) -> None:
    env = folders.env(emu.url)
    code, prompts, err = inspector(env, "--method", "prompts/list")
    assert code == 0, err
    assert [p["name"] for p in prompts["result"]["prompts"]][:3] == [
        "music_video",
        "promo_video",
        "background_track",
    ]
    code, got, err = inspector(
        env,
        "--method",
        "prompts/get",
        "--prompt-name",
        "aspect_ratio",
        "--prompt-args",
        "ratio=1:1",
    )
    assert code == 0, err
    text = got["result"]["messages"][0]["content"]["text"]
    assert "change the aspect ratio to 1:1" in text
    code, templates, err = inspector(env, "--method", "resources/templates/list")
    assert code == 0, err
    assert len(templates["result"]["resourceTemplates"]) == 4
