"""Configuration, manifests, platform detection and the error hierarchy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_mcp import constants, errors
from nemo_mcp.api.attribution import detect_platform
from nemo_mcp.config import DEFAULT_API_URL, DEFAULT_WEB_URL, Settings
from nemo_mcp.contract.media import SUPPORTED_EXTENSIONS
from nemo_mcp.manifest import all_manifests, load_manifest, read_frontmatter, skill_identity
from nemo_mcp.redact import redact, register_secret

ROOT = Path(__file__).resolve().parents[1]


def test_settings_defaults() -> None:
    s = Settings.from_env({})
    assert s.api_url == DEFAULT_API_URL
    assert s.web_url == DEFAULT_WEB_URL
    assert s.token is None
    assert s.skill == "nemo-mcp"
    assert s.wait_budget == constants.DEFAULT_WAIT_BUDGET


def test_settings_from_env(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "NEMO_API_URL": "http://127.0.0.1:8000/",
            "NEMO_WEB_URL": "https://web.example/",
            "NEMO_TOKEN": " nmv_usr_secretsecret \n",
            "NEMO_CLIENT_ID": "abc",
            "SKILL_SOURCE": "clawhub",
            "NEMO_MCP_HOME": str(tmp_path / "st"),
            "NEMO_SKILL": "music-generator-free-easy",
            "NEMO_MCP_WAIT_SECONDS": "5000",
        }
    )
    assert s.api_url == "http://127.0.0.1:8000"
    assert s.web_url == "https://web.example"
    assert s.token == "nmv_usr_secretsecret"
    assert s.client_id == "abc"
    assert s.skill_source_override == "clawhub"
    assert s.home == tmp_path / "st"
    assert s.state_db == tmp_path / "st" / "state.db"
    assert s.wait_budget == constants.MAX_WAIT_BUDGET  # clamped
    assert "nmv_usr_secretsecret" not in repr(s)


@pytest.mark.parametrize("value", ["", "   ", "${NEMO_TOKEN}", "{{token}}"])
def test_unsubstituted_templates_are_unset(value: str) -> None:
    assert Settings.from_env({"NEMO_TOKEN": value}).token is None


def test_registration_url() -> None:
    s = Settings.from_env({})
    assert s.registration_url("anon_abc") == "https://nemovideo.com/register?bind=anon_abc"
    assert s.registration_url("usr_1") is None
    assert s.registration_url(None) is None


def test_manifests_cover_the_seeds() -> None:
    found = all_manifests()
    assert set(found) == {
        "ai-music-video-clip-generator",
        "video-making-free-ai",
        "music-generator-free-easy",
        "nemo-mcp",
    }
    assert found["ai-music-video-clip-generator"].max_upload_mb == 500
    assert found["video-making-free-ai"].max_upload_mb == 500
    assert found["music-generator-free-easy"].max_upload_mb == 200
    for m in found.values():
        assert len(m.examples) >= 3 and m.tips and m.preferred_formats
        assert set(m.preferred_formats) <= set(SUPPORTED_EXTENSIONS)
    # every manifest file is valid JSON whose name matches the file
    for path in (ROOT / "manifests" / "skills").glob("*.json"):
        assert json.loads(path.read_text())["name"] == path.stem


def test_unknown_manifest_is_actionable() -> None:
    with pytest.raises(errors.ConfigError) as info:
        load_manifest("nope")
    assert "NEMO_SKILL" in str(info.value) and "nemo-mcp" in str(info.value)


def test_skill_md_frontmatter_overrides_attribution(tmp_path: Path) -> None:
    m = load_manifest("nemo-mcp")
    assert skill_identity(m, None) == ("nemo-mcp", m.version)
    (tmp_path / "SKILL.md").write_text(
        '---\nname: music-generator-free-easy\nversion: "2.3.4"\n'
        "description: x\nmetadata:\n  openclaw:\n    primaryEnv: NEMO_TOKEN\n---\nbody\n"
    )
    assert read_frontmatter(tmp_path / "SKILL.md")["version"] == "2.3.4"
    assert skill_identity(m, tmp_path) == ("music-generator-free-easy", "2.3.4")
    assert skill_identity(m, tmp_path / "missing") == ("nemo-mcp", m.version)


# --- platform detection over real folder layouts ---------------------------------------------


def _layout(home: Path, rel: str, *, origin: bool = False) -> Path:
    skill = home / rel
    skill.mkdir(parents=True, exist_ok=True)
    if origin:
        (skill / ".clawhub").mkdir()
        (skill / ".clawhub" / "origin.json").write_text('{"version":1,"slug":"x"}')
    return skill


@pytest.mark.parametrize(
    ("rel", "origin", "env", "expected"),
    [
        ("work/skills/nemo", True, {}, "clawhub"),  # clawhub install: origin.json beside it
        (".clawhub/skills/nemo", False, {}, "clawhub"),
        (".openclaw/skills/nemo", False, {}, "openclaw"),
        (".cursor/skills/nemo", False, {}, "cursor"),
        (".claude/skills/nemo", False, {}, "claude_code"),
        (".agents/skills/nemo", False, {}, "agent_skills"),
        ("proj/.cursor/skills/nemo", False, {}, "cursor"),  # workspace skill folder
        ("elsewhere/nemo", False, {}, "unknown"),
        ("elsewhere/nemo", False, {"CURSOR_TRACE_ID": "t"}, "cursor"),
        ("elsewhere/nemo", False, {"CLAUDECODE": "1"}, "claude_code"),
        (".cursor/skills/nemo", False, {"SKILL_SOURCE": "custom"}, "custom"),
    ],
)
def test_detect_platform(
    tmp_path: Path, rel: str, origin: bool, env: dict[str, str], expected: str
) -> None:
    home = tmp_path / "home"
    skill = _layout(home, rel, origin=origin)
    neutral_install = tmp_path / "site-packages" / "nemo_mcp"
    neutral_install.mkdir(parents=True)
    got = detect_platform(env, skill_dir=skill, install_path=neutral_install, home=home)
    assert got == expected


def test_detect_platform_from_install_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    install = _layout(home, ".cursor/extensions/venv/site-packages/nemo_mcp")
    assert detect_platform({}, install_path=install, home=home) == "cursor"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (200, 1001, errors.AuthError),
        (401, None, errors.AuthError),
        (200, 1002, errors.SessionNotFoundError),
        (200, 2001, errors.InsufficientCreditsError),
        (400, 4001, errors.UnsupportedFileError),
        (413, 4002, errors.FileTooLargeError),
        (402, None, errors.ExportBlockedError),
        (429, None, errors.RateLimitError),
        (500, None, errors.ServerError),
        (503, None, errors.ServerError),
        (418, None, errors.APIStatusError),
        (200, 9999, errors.APIStatusError),
    ],
)
def test_error_mapping(status: int, code: int | None, cls: type[errors.NemoError]) -> None:
    err = errors.error_for(status, code, "detail")
    assert type(err) is cls
    assert str(err)  # always has a message
    assert err.to_dict()["kind"] == cls.kind


def test_every_error_says_what_to_do_next() -> None:
    for cls in (
        errors.AuthError,
        errors.SessionNotFoundError,
        errors.UnsupportedFileError,
        errors.FileTooLargeError,
        errors.ExportBlockedError,
        errors.ServerError,
        errors.TransportError,
        errors.UnsafePathError,
    ):
        assert cls("x").hint, cls


def test_credits_error_carries_registration_link() -> None:
    err = errors.error_for(
        200, 2001, None, registration_url="https://nemovideo.com/register?bind=anon_1"
    )
    assert isinstance(err, errors.InsufficientCreditsError)
    assert "register?bind=anon_1" in str(err)
    assert err.to_dict()["details"]["registration_url"].endswith("anon_1")


def test_errors_never_show_tokens() -> None:
    register_secret("nmv_usr_TOPSECRET123")
    err = errors.error_for(500, None, "boom Authorization: Bearer nmv_usr_TOPSECRET123")
    assert "TOPSECRET" not in str(err)
    assert "TOPSECRET" not in redact("token=nmv_usr_OTHERTOKEN99")


def test_cli_entry_points() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nemo_mcp", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("nemo-mcp ")
