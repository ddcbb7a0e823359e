"""The next-steps table: one per outcome, sensible at that point, worded per face."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import BaseModel

from nemo_mcp.manifest import all_manifests, load_manifest
from nemo_mcp.store.records import TurnStatus
from nemo_mcp.studio import next_steps
from nemo_mcp.studio.next_steps import TABLE, Outcome, mcp_line, outcome_of, steps_for
from nemo_mcp.studio.views import (
    CreditsNote,
    CreditsView,
    MediaItem,
    NewSessionView,
    RenderView,
    SessionList,
    SessionView,
    StateView,
    TurnView,
    UploadedItem,
    UploadResult,
)

MANIFEST = load_manifest("nemo-mcp")


def _upload(*kinds: str) -> UploadResult:
    return UploadResult(
        session_id="s",
        uploaded=[UploadedItem(name=f"f{i}", kind=k, source="file") for i, k in enumerate(kinds)],
    )


def _turn(status: TurnStatus, *, ready: bool | None = True, **kw: object) -> TurnView:
    return TurnView(
        turn_id="turn_1",
        session_id="s",
        status=status,
        done=status != "running",
        export_ready=ready,
        **kw,  # type: ignore[arg-type]
    )


def _render(status: str) -> RenderView:
    return RenderView(
        render_id="render_1",
        session_id="s",
        status=status,  # type: ignore[arg-type]
        done=status in ("downloaded", "failed", "cancelled"),
        file="/out/v.mp4" if status == "downloaded" else None,
    )


def _state(ready: bool, media: bool) -> StateView:
    uploads = [MediaItem(name="song.mp3", kind="audio")] if media else []
    return StateView(session_id="s", timeline="t", tracks=[], uploads=uploads, export_ready=ready)


def _credits(available: float, ready: bool | None) -> CreditsView:
    return CreditsView(available=available, frozen=0, total=available, export_ready=ready)


SESSION = SessionView(session_id="s", created_at=0)
EXAMPLES: dict[Outcome, BaseModel] = {
    "upload_song": _upload("audio"),
    "upload_visuals": _upload("image", "image", "audio"),
    "new_session": NewSessionView(session_id="s", created_at=0),
    "session": SESSION,
    "sessions": SessionList(sessions=[SESSION], current_session_id="s"),
    "no_sessions": SessionList(sessions=[]),
    "state_ready": _state(True, True),
    "state_media": _state(False, True),
    "state_empty": _state(False, False),
    "credits_ready": _credits(500, True),
    "credits_empty": _credits(500, None),
    "turn_running": _turn("running", ready=None),
    "turn_ready": _turn("replied"),
    "turn_not_ready": _turn("replied", ready=False),
    "turn_unchanged": _turn("silent_unchanged", ready=False),
    "turn_unchanged_ready": _turn("silent_unchanged"),
    "turn_question": _turn("awaiting_answer", question="Which aspect ratio?"),
    "turn_failed": _turn("failed", errors=["boom"]),
    "turn_lost": _turn("lost"),
    "turn_interrupted": _turn("interrupted"),
    "render_running": _render("processing"),
    "render_done": _render("downloaded"),
    "render_failed": _render("failed"),
}


def _kinds(view: BaseModel, **kw: object) -> list[str]:
    return [s.kind for s in steps_for(view, MANIFEST, **kw)]  # type: ignore[arg-type]


def test_every_outcome_has_a_row_and_an_example() -> None:
    assert set(TABLE) == set(get_args(Outcome))
    assert set(EXAMPLES) == set(get_args(Outcome)) - {"turn_detached"}
    for outcome, view in EXAMPLES.items():
        assert outcome_of(view) == outcome


def test_every_turn_status_has_an_outcome() -> None:
    for status in get_args(TurnStatus):
        assert outcome_of(_turn(status)) in TABLE


def test_no_loops_no_regeneration_no_empty_export_no_needless_state() -> None:
    # a reply that changed nothing: the request in other words, never the same message
    for outcome in ("turn_unchanged", "turn_unchanged_ready", "turn_failed"):
        assert "resend" not in TABLE[outcome] and "rephrase" in TABLE[outcome]
    assert [o for o, kinds in TABLE.items() if "resend" in kinds] == ["turn_lost"]
    # after a finished export: the file, and changes if wanted; no new generation
    assert TABLE["render_done"] == ("deliver", "revise")
    # nothing to export: never suggest it
    for outcome in ("state_empty", "state_media", "credits_empty", "turn_not_ready"):
        assert "export" not in TABLE[outcome]
    for outcome in ("upload_song", "upload_visuals", "turn_unchanged", "turn_question"):
        assert "export" not in TABLE[outcome]
    # a chat result carries the timeline: reading it again is never the next step
    finished = ("turn_ready", "turn_not_ready", "turn_unchanged", "turn_question", "turn_failed")
    for outcome in finished:
        assert "state" not in TABLE[outcome]
    # the question is relayed, and answered in the same session
    assert TABLE["turn_question"] == ("answer",)
    assert TABLE["turn_running"] == TABLE["render_running"] == ("wait",)


def test_paid_steps_give_way_to_registering_when_credits_fall_short() -> None:
    url = "https://nemovideo.com/register?bind=anon_1"
    poor = CreditsNote(available=0, next_request="edit", registration_url=url)
    turn = _turn("replied", credits=poor)
    assert _kinds(turn) == ["export", "register"]
    line = mcp_line(steps_for(turn, MANIFEST))
    assert "nemo_chat" not in line and url in line and "nemo_export()" in line
    enough = CreditsNote(available=60, next_request="edit")
    assert _kinds(_turn("replied", credits=enough)) == ["export", "edit"]
    # the credits tool: 80 cannot make a video (about 100), but covers an edit
    assert _kinds(_credits(80, None)) == ["upload", "register"]
    assert _kinds(_credits(80, True)) == ["export", "edit"]
    # an upload whose balance cannot cover making the video
    short = _upload("audio").model_copy(
        update={"credits": CreditsNote(available=40, next_request="generation")}
    )
    assert _kinds(short) == ["register"]
    assert "top up" in mcp_line(steps_for(short, MANIFEST))


@pytest.mark.parametrize("outcome", sorted(TABLE))
def test_each_face_speaks_its_own_language(outcome: Outcome) -> None:
    view = EXAMPLES.get(outcome, _turn("running", ready=None))
    steps = steps_for(view, MANIFEST, outcome=outcome)
    mcp = mcp_line(steps)
    cli = "\n".join(next_steps.cli_lines(steps))
    assert mcp.startswith("Next: ") and "nemo-mcp" not in mcp
    assert "nemo_" not in cli
    for entry in next_steps.cli_json(steps):
        assert entry["command"] is None or entry["command"].startswith("nemo-mcp ")
    if any(s.kind == "wait" for s in steps):
        assert "nemo_wait()" in mcp  # no id to copy
        assert "nemo-mcp wait turn_1" in cli or "nemo-mcp wait render_1" in cli


def test_inline_phrases_for_hints() -> None:
    step = next_steps.Step("wait", job_id="turn_1")
    assert next_steps.phrase(step, "mcp") == "`nemo_wait()`"
    assert next_steps.phrase(step, "cli") == "`nemo-mcp wait turn_1`"


def test_uploads_lead_to_the_request_that_fits() -> None:
    """Photos or clips lead to the promo request, a song to the music video (a music video
    *clip* is not a clip upload), whatever skill is active."""
    assert "photos" in next_steps.example_for(MANIFEST, {"image"})
    assert "photos" in next_steps.example_for(MANIFEST, {"video", "audio"})
    assert "my song" in next_steps.example_for(MANIFEST, {"audio"})
    line = mcp_line(steps_for(_upload("image", "image", "image", "audio"), MANIFEST))
    assert 'nemo_chat(message="turn these photos and audio into a 30-second promo' in line
    jobs = {
        "ai-music-video-clip-generator": "my song",
        "video-making-free-ai": "photos",
        "music-generator-free-easy": "background track",
    }
    for name, word in jobs.items():
        manifest = load_manifest(name)
        for kinds in ({"audio"}, {"image"}, set()):
            assert word in next_steps.example_for(manifest, kinds), (name, kinds)
    for manifest in all_manifests().values():
        assert next_steps.example_for(manifest, set()) in manifest.examples
