"""The backend as it really is, through a real MCP client against the emulator: every draft
shape (the contract's JSON, labels in segment metadata, Draft Protocol V3), every failing stream
variant, and the agent's questions give the right text, status and ``isError``."""

from __future__ import annotations

import json

import pytest
from nemo_server_helpers import Folders, check_mp4

from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth
from support.emulator import MUSIC_VIDEO, TITLE_EDIT, run_sse_posts
from support.results import Result, ToolClient

pytestmark = pytest.mark.anyio

PROMO = "turn these photos into a 4-second promo video with transitions"


def first_line(call: Result) -> str:
    return call.text.splitlines()[0]


def lines_starting_with_next(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Next:")]


# --- draft shapes --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "json_meta", "v3"])
async def test_every_draft_shape_reads_diffs_and_exports(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders, fmt: str
) -> None:
    emu.set_config(draft_format=fmt)
    up = await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    sid = str(up.data["session_id"])

    made = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    assert made.data["status"] == "replied" and not made.result.is_error
    # the clips' names (at the top level, in m, or in the V3 document) are read and quoted
    assert '"Generated scene 1"' in made.text or '"my-song"' in made.text, made.text
    assert "Timeline (2 tracks): 1. Video: " in made.text, made.text
    assert made.data["export_ready"] is True

    titled = await mcp.ok("nemo_chat", {"message": TITLE_EDIT})
    assert 'added title "Summer" 0-3 s' in titled.data["changes"], titled.data
    assert "'text'" not in titled.text and '"text"' not in titled.text

    state = await mcp.ok("nemo_get_state")
    assert 'Title: "Summer" (0-3s)' in first_line(state), state.text
    assert "Ready to export" in state.text
    assert state.data["export_ready"] is True

    timeline = await mcp.read(f"nemo://sessions/{sid}/timeline")
    assert 'Title: "Summer"' in timeline and "Ready to export" in timeline
    raw = json.loads(await mcp.read(f"nemo://sessions/{sid}/draft"))
    if fmt == "v3":
        assert isinstance(raw, str) and raw.startswith("<draft ")
    else:
        assert isinstance(raw, dict) and raw["t"]

    export = await mcp.ok("nemo_export", {"wait_seconds": 60})
    assert export.data["status"] == "downloaded", export.text
    check_mp4(folders.out / export.data["file"].rsplit("/", 1)[-1], min_seconds=1.0)
    render = emu.render(str(export.data["render_id"]))
    assert render is not None
    if fmt == "v3":
        assert render.received_draft == raw  # sent back exactly as received
    else:
        assert render.received_draft is None


# --- failing streams -----------------------------------------------------------------------------
FAILURES = {
    "error_v1": 'Tool "generate_video" failed',  # the ADK 1.x frame: invalid JSON
    "error_v2": "ResourceExhausted: 429 The model is overloaded",
    "model_error": "MALFORMED_FUNCTION_CALL: Malformed function call",
    "typed,model_error": "MALFORMED_FUNCTION_CALL: Malformed function call",
}


@pytest.mark.parametrize("variant", sorted(FAILURES))
async def test_a_failed_turn_is_an_error_result(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders, variant: str
) -> None:
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    emu.set_config(stream=variant)
    failed = await mcp.fail("nemo_chat", {"message": MUSIC_VIDEO})
    assert failed.result.is_error
    text = failed.text
    assert text.startswith("Error (turn_failed): The editing agent stopped with an error"), text
    assert FAILURES[variant].replace('"', "'") in text.replace('"', "'"), text
    assert "Nothing on the timeline changed" in text
    assert "nemo_get_state" in text and "nemo_chat" in text  # what to do next
    assert "export" not in text.lower(), text  # never an export the turn did not produce
    assert "replied" not in text
    assert run_sse_posts(emu) == 1

    # nothing ran, so the same request may be sent again at once
    emu.set_config(stream="adk")
    again = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO})
    assert again.data["status"] == "replied", again.text
    assert run_sse_posts(emu) == 2


async def test_a_failed_turn_seen_through_nemo_wait(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    await mcp.ok("nemo_upload", {"items": [str(folders.song)]})
    emu.set_config(stream="error_v2")
    running = await mcp.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 0})
    assert running.data["status"] == "running"
    failed = await mcp.fail("nemo_wait", {"job_id": running.data["turn_id"], "wait_seconds": 30})
    assert first_line(failed).startswith("Error (turn_failed): The editing agent stopped")
    assert "ResourceExhausted" in failed.text and "export" not in failed.text.lower()


# --- agent questions -----------------------------------------------------------------------------
async def test_an_agent_question_is_relayed_and_answered(
    mcp: ToolClient, emu: EmulatorServer, folders: Folders
) -> None:
    emu.set_config(agent_questions=True)
    photos = [
        synth.make_photo(folders.media / f"{name}.jpg", name, color=(40 * i, 90, 160))
        for i, name in enumerate(("one", "two"), start=1)
    ]
    up = await mcp.ok("nemo_upload", {"items": [str(p) for p in photos]})
    sid = str(up.data["session_id"])

    asked = await mcp.ok("nemo_chat", {"message": PROMO})
    assert not asked.result.is_error
    assert asked.data["status"] == "awaiting_answer", asked.text
    question = "Which aspect ratio should the promo video have?"
    options = ["16:9 (landscape)", "9:16 (vertical)", "1:1 (square)"]
    assert asked.data["question"] == question and asked.data["options"] == options
    text = asked.text
    lines = text.splitlines()
    assert lines[0] == "NemoVideo's editing agent asks (its words, quoted; ask the user):", text
    assert lines[1] == f"> {question}", text
    assert lines[2] == "> Options: 16:9 (landscape) | 9:16 (vertical) | 1:1 (square)", text
    assert "Nothing is finished yet" in text and "user's answer" in text
    assert lines[-1].startswith('Next: nemo_chat(message="<their answer>")'), text
    assert "nemo_export" not in text and not asked.data.get("changes")
    assert asked.data["session_id"] == sid

    answered = await mcp.ok("nemo_chat", {"message": "9:16 (vertical)", "session_id": sid})
    assert answered.data["status"] == "replied", answered.text
    assert answered.data["export_ready"] is True
    state = await mcp.ok("nemo_get_state")
    assert state.data["width"] == 1080 and state.data["height"] == 1920, state.data
    assert run_sse_posts(emu) == 2
