"""Terminal output: progress lines, result blocks, usage errors, exit code mapping."""

from __future__ import annotations

import io
import json

import pytest

from nemo_mcp import cli, errors
from nemo_mcp.addresses import is_loopback
from nemo_mcp.cli.context import exit_code_for
from nemo_mcp.cli.output import format_view, json_view
from nemo_mcp.cli.parser import UsageError, build_parser, first_command
from nemo_mcp.cli.progress import ProgressPrinter
from nemo_mcp.manifest import load_manifest
from nemo_mcp.redact import register_secret
from nemo_mcp.studio.views import (
    CreditsView,
    Progress,
    RenderView,
    StateView,
    TrackView,
    TurnView,
)

MANIFEST = load_manifest("nemo-mcp")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_is_timestamped_and_deduplicated() -> None:
    stream = io.StringIO()
    clock = Clock()
    ui = ProgressPrinter(stream, tty=False, clock=clock)
    ui.show(Progress(message="rendering: processing 10%"))
    clock.now = 5
    ui.show(Progress(message="rendering: processing 20%"))  # same shape, too soon: skipped
    clock.now = 6
    ui.show(Progress(message="downloading 5%"))
    clock.now = 40
    ui.show(Progress(message="downloading 90%"))  # same shape, but 30 s passed
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert all(line.startswith("[") and "] " in line for line in lines)
    assert lines[0].endswith("rendering: processing 10%")
    assert lines[2].endswith("downloading 90%")
    assert "\r" not in stream.getvalue()


def test_tty_progress_redraws_one_line_with_a_bar() -> None:
    stream = io.StringIO()
    clock = Clock()
    ui = ProgressPrinter(stream, tty=True, clock=clock)
    ui.show(Progress(message="uploading", progress=50, total=100))
    clock.now = 1
    ui.show(Progress(message="uploading", progress=100, total=100))
    ui.clear()
    text = stream.getvalue()
    assert text.count("\r") == 3 and "\n" not in text
    assert "[############............]  50%" in text and "100%" in text


def test_quiet_progress_prints_nothing() -> None:
    stream = io.StringIO()
    ui = ProgressPrinter(stream, enabled=False, tty=False)
    ui.show(Progress(message="x"))
    ui.note("y")
    assert stream.getvalue() == ""


def test_progress_never_shows_a_token() -> None:
    register_secret("nmv_usr_secret_value_123")
    stream = io.StringIO()
    ProgressPrinter(stream, tty=False).show(Progress(message="got nmv_usr_secret_value_123"))
    assert "secret_value" not in stream.getvalue()


def test_export_prints_the_path_last() -> None:
    view = RenderView(
        render_id="render_1",
        session_id="s1",
        status="downloaded",
        done=True,
        file="/videos/out.mp4",
        size_bytes=1_048_576,
    )
    lines = format_view(view, MANIFEST).splitlines()
    assert lines[-1] == "/videos/out.mp4"
    assert lines[0] == "Exported and downloaded: /videos/out.mp4 (1.0 MB)."
    assert any(line.startswith('  next: nemo-mcp chat "<the change>"') for line in lines)
    assert "nemo_" not in "\n".join(lines)  # the command line names only its own commands


def test_running_views_show_their_job_id_and_the_command_to_follow() -> None:
    render = RenderView(render_id="render_9", session_id="s", status="processing", done=False)
    text = format_view(render, MANIFEST)
    assert "render id: render_9" in text and "next: nemo-mcp wait render_9" in text
    turn = TurnView(turn_id="turn_7", session_id="s", status="running", done=False)
    text = format_view(turn, MANIFEST)
    # this process ends, and the turn's stream with it: the timeline tells the outcome
    assert "turn id: turn_7" in text and "do not send the message again" in text
    assert "next: nemo-mcp state" in text and "wait" not in text.split("turn id")[1]


def test_agent_reply_is_labelled_as_its_words() -> None:
    turn = TurnView(
        turn_id="turn_1",
        session_id="s",
        status="replied",
        done=True,
        reply="Done!\x1b[31m Click Export to download.\u202e",
        changes=["added a video track"],
        export_ready=True,
    )
    text = format_view(turn, MANIFEST)
    assert "its words, not instructions" in text
    assert "  | Done! Click Export to download." in text  # no escape or bidi characters
    assert "\x1b" not in text and "\u202e" not in text
    assert "  - added a video track" in text
    assert "next: nemo-mcp export" in text


def test_json_output_carries_summary_and_commands_only() -> None:
    turn = TurnView(
        turn_id="turn_1",
        session_id="s",
        status="silent_unchanged",
        done=True,
        timeline="Timeline is empty.",
        export_ready=False,
    )
    data = json_view(turn, MANIFEST)
    assert "did not change" in data["summary"]
    [step] = data["next_steps"]
    assert step["command"].startswith("nemo-mcp chat") and "not the same message" in step["action"]


def test_state_and_credits_blocks() -> None:
    state = StateView(
        session_id="s1",
        timeline="1 track",
        tracks=[
            TrackView(index=1, kind="audio", label="song.mp3", start_s=0, end_s=12, volume_pct=35)
        ],
        duration_s=12.0,
        width=1080,
        height=1920,
        export_ready=True,
    )
    text = format_view(state, MANIFEST)
    assert "1. audio  song.mp3 (0.0-12.0 s, volume 35%)" in text and "1080x1920" in text
    assert "next: nemo-mcp export" in text
    credits = CreditsView(
        available=80,
        frozen=0,
        total=100,
        account="anonymous",
        registration_url="https://nemovideo.com/register?bind=anon_1",
    )
    text = format_view(credits, MANIFEST)
    # 80 credits cannot cover making a video (about 100): no chat step, registering instead
    assert "nemo-mcp chat" not in text
    assert "next: register free at https://nemovideo.com/register?bind=anon_1" in text
    assert text.count("register?bind=anon_1") == 1  # said once
    rich = format_view(credits.model_copy(update={"available": 5000}), MANIFEST)
    assert "Register: https://nemovideo.com/register?bind=anon_1" in rich


@pytest.mark.parametrize(
    ("err", "code"),
    [
        (errors.AuthError("x"), 4),
        (errors.ClientIdMissingError("x"), 4),
        (errors.InvalidInputError("x"), 2),
        (errors.UnsafePathError("x"), 2),
        (errors.UnsupportedFileError("x"), 2),
        (errors.FileTooLargeError("x"), 2),
        (errors.ConfigError("x"), 2),
        (errors.InsufficientCreditsError("x"), 1),
        (errors.ExportBlockedError("x"), 1),
        (errors.TransportError("x"), 1),
        (errors.RenderFailedError("x"), 1),
        (errors.SessionNotFoundError("x"), 1),
    ],
)
def test_exit_codes_for_errors(err: errors.NemoError, code: int) -> None:
    assert exit_code_for(err) == code


def test_usage_errors_exit_2_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["export", "--wait", "soon", "--json"]) == 2
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["kind"] == "usage" and "seconds" in err["message"]
    assert cli.main(["chat"]) == 2
    assert "required" in capsys.readouterr().err
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert "nemo-mcp" in capsys.readouterr().out
    assert cli.main(["export", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--filename" in out and "exit codes:" in out and "130" in out


def test_bad_job_ids_are_refused_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["wait", "job_1", "--json"]) == 2
    assert "not a job id" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert cli.main(["cancel", "turn_1", "--json"]) == 2
    assert "not a render id" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_serve_refuses_a_public_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--http", "--host", "0.0.0.0", "--json"]) == 2
    err = json.loads(capsys.readouterr().out)["error"]
    assert "--allow-remote" in err["hint"] and "credits" in err["message"]
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert is_loopback("localhost") and not is_loopback("192.168.1.2")


def test_emulator_and_demo_are_wired_lazily(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--fault" in out and "--json" in out  # the emulator's own options and ours
    assert cli.main(["--quiet", "demo", "--help"]) == 0
    assert "--seconds" in capsys.readouterr().out
    # any other command builds its parser without them
    parser = build_parser(["credits"])
    assert parser.parse_args(["credits"]).command == "credits"
    with pytest.raises(UsageError):
        parser.parse_args(["emulator", "--fault", "x"])


def test_options_work_before_and_after_the_command() -> None:
    parser = build_parser(["state"])
    before = parser.parse_args(["--json", "--skill", "nemo-mcp", "state"])
    after = parser.parse_args(["state", "--json", "--skill", "nemo-mcp"])
    neither = parser.parse_args(["state"])
    assert before.json is after.json is True and neither.json is False
    assert before.skill == after.skill == "nemo-mcp" and neither.skill is None
    assert first_command(["--skill-dir", "x", "--json", "emulator"]) == "emulator"
