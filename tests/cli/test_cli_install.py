"""``nemo-mcp install``: merging into real-looking client configs without harming anything."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from nemo_mcp import cli
from nemo_mcp.setup import installers

OTHER_SERVERS: dict[str, Any] = {
    "filesystem": {
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"],
    },
    "github": {
        "command": "docker",
        "args": ["run", "-i", "ghcr.io/github/github-mcp-server"],
        "env": {"GITHUB_TOKEN": "ghp_keepme"},
    },
    "remote": {"url": "https://example.com/mcp"},
}


def _write(path: Path, data: Any, *, indent: int | None = 4) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, indent=indent, ensure_ascii=False).encode()
    path.write_bytes(raw)
    return raw


def _backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".bak-*"))


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_cursor_install_keeps_other_servers_and_keys(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = isolated_env / ".cursor" / "mcp.json"
    original = {"mcpServers": OTHER_SERVERS, "someOtherSetting": {"keep": [1, 2, 3]}}
    old_bytes = _write(path, original)

    code, out = _run_json(capsys, "install", "cursor", "--launcher", "python")

    assert code == 0, out
    new = json.loads(path.read_text())
    for name, entry in OTHER_SERVERS.items():
        assert new["mcpServers"][name] == entry
    assert new["someOtherSetting"] == {"keep": [1, 2, 3]}
    entry = new["mcpServers"]["nemovideo"]
    assert entry == {
        "command": str(Path(sys.executable).absolute()),
        "args": ["-m", "nemo_mcp", "serve"],
        "env": {},
    }
    backups = _backups(path)
    assert len(backups) == 1 and backups[0].read_bytes() == old_bytes
    assert out["backup"] == str(backups[0]) and out["written"] is True
    assert "Restart Cursor" in out["summary"]


def test_exe_launcher_writes_the_absolute_script_path(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exe = installers.find_executable()
    if exe is None:
        pytest.skip("the nemo-mcp console script is not installed in this environment")
    code, out = _run_json(capsys, "install", "cursor", "--launcher", "exe")
    assert code == 0
    entry = json.loads((isolated_env / ".cursor" / "mcp.json").read_text())["mcpServers"][
        "nemovideo"
    ]
    assert entry["command"] == str(exe) and Path(entry["command"]).is_absolute()
    assert entry["args"] == ["serve"]
    assert out["created_file"] is True and out["backup"] is None


def test_existing_entry_needs_force(isolated_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = isolated_env / ".cursor" / "mcp.json"
    servers = {**OTHER_SERVERS, "nemovideo": {"url": "https://www.nemovideo.com/mcp"}}
    old_bytes = _write(path, {"mcpServers": servers})

    code, out = _run_json(capsys, "install", "cursor")
    assert code == 2
    assert out["error"]["kind"] == "invalid_input"
    assert "--force" in out["error"]["hint"]
    assert path.read_bytes() == old_bytes and not _backups(path)

    code, out = _run_json(capsys, "install", "cursor", "--force", "--launcher", "python")
    assert code == 0
    new = json.loads(path.read_text())["mcpServers"]
    assert list(new) == [*OTHER_SERVERS, "nemovideo"]  # position kept
    assert new["nemovideo"]["args"] == ["-m", "nemo_mcp", "serve"]
    assert {k: new[k] for k in OTHER_SERVERS} == OTHER_SERVERS
    assert out["replaced"] == ["nemovideo"]
    assert _backups(path)[0].read_bytes() == old_bytes


def test_force_also_replaces_an_entry_under_the_other_name(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = isolated_env / ".cursor" / "mcp.json"
    _write(path, {"mcpServers": {"nemo-mcp": {"command": "nemo-mcp", "args": ["serve"]}}})
    code, _ = _run_json(capsys, "install", "cursor")
    assert code == 2
    code, out = _run_json(capsys, "install", "cursor", "--force")
    assert code == 0 and out["replaced"] == ["nemo-mcp"]
    assert list(json.loads(path.read_text())["mcpServers"]) == ["nemovideo"]


def test_invalid_json_is_refused_untouched(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = isolated_env / ".cursor" / "mcp.json"
    path.parent.mkdir(parents=True)
    broken = b'{"mcpServers": {"a": {"command": "x"},}  // trailing comma\n'
    path.write_bytes(broken)
    for extra in ([], ["--force"]):
        code, out = _run_json(capsys, "install", "cursor", *extra)
        assert code == 2
        assert "not valid JSON" in out["error"]["message"]
        assert "untouched" in out["error"]["message"]
    assert path.read_bytes() == broken and not _backups(path)


@pytest.mark.parametrize(
    "content", [[1, 2], {"mcpServers": ["not", "a", "map"]}], ids=["list", "servers-list"]
)
def test_wrong_shapes_are_refused(
    isolated_env: Path, capsys: pytest.CaptureFixture[str], content: Any
) -> None:
    path = isolated_env / ".cursor" / "mcp.json"
    old = _write(path, content)
    code, out = _run_json(capsys, "install", "cursor")
    assert code == 2 and path.read_bytes() == old
    assert "left untouched" in out["error"]["message"]


def test_dry_run_shows_a_diff_and_writes_nothing(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = isolated_env / ".cursor" / "mcp.json"
    old = _write(path, {"mcpServers": OTHER_SERVERS})
    assert cli.main(["install", "cursor", "--dry-run", "--launcher", "python"]) == 0
    text = capsys.readouterr().out
    assert f"+++ {path}" in text and '+    "nemovideo": {' in text
    assert path.read_bytes() == old and not _backups(path)


def test_second_install_is_a_no_op(isolated_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = isolated_env / ".cursor" / "mcp.json"
    assert _run_json(capsys, "install", "cursor", "--launcher", "python")[0] == 0
    first = path.read_bytes()
    code, out = _run_json(capsys, "install", "cursor", "--launcher", "python")
    assert code == 0 and out["unchanged"] is True and out["written"] is False
    assert path.read_bytes() == first and not _backups(path)


def test_claude_code_user_scope_keeps_the_rest_of_claude_json(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = isolated_env / ".claude.json"
    original = {
        "numStartups": 12,
        "projects": {"/work/app": {"mcpServers": {"local": {"command": "x"}}, "allowedTools": []}},
        "mcpServers": {"github": OTHER_SERVERS["github"]},
        "oauthAccount": {"emailAddress": "me@example.com"},
    }
    _write(path, original, indent=None)
    code, _ = _run_json(capsys, "install", "claude-code", "--launcher", "python")
    assert code == 0
    new = json.loads(path.read_text())
    for key in ("numStartups", "projects", "oauthAccount"):
        assert new[key] == original[key]
    assert new["mcpServers"]["github"] == OTHER_SERVERS["github"]
    assert new["mcpServers"]["nemovideo"]["type"] == "stdio"
    assert new["mcpServers"]["nemovideo"]["args"] == ["-m", "nemo_mcp", "serve"]


def test_claude_code_project_scope_and_cursor_project(
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run_json(capsys, "install", "claude-code", "--scope", "project")[0] == 0
    assert "nemovideo" in json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]
    assert _run_json(capsys, "install", "cursor", "--project")[0] == 0
    assert "nemovideo" in json.loads((tmp_path / ".cursor" / "mcp.json").read_text())["mcpServers"]
    assert not (isolated_env / ".claude.json").exists()
    assert not (isolated_env / ".cursor" / "mcp.json").exists()


def test_claude_desktop_path_and_config_override(
    isolated_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run_json(capsys, "install", "claude-desktop")
    assert code == 0
    path = Path(out["file"])
    if sys.platform.startswith("linux"):
        assert path == isolated_env / ".config" / "Claude" / "claude_desktop_config.json"
        assert any("best guess" in w for w in out["warnings"])
    assert path.is_file() and str(path).startswith(str(isolated_env))

    custom = tmp_path / "custom.json"
    code, out = _run_json(capsys, "install", "claude-desktop", "--config", str(custom))
    assert code == 0 and out["file"] == str(custom)
    assert "type" not in json.loads(custom.read_text())["mcpServers"]["nemovideo"]


def test_env_pairs_and_token_warning(
    isolated_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "cfg.json"
    code, out = _run_json(
        capsys,
        "--skill",
        "music-generator-free-easy",
        "install",
        "cursor",
        "--config",
        str(target),
        "--env",
        "NEMO_MCP_OUTPUT_DIR=/videos/out",
        "--env",
        "NEMO_TOKEN=nmv_usr_explicitly_given",
    )
    assert code == 0
    env = json.loads(target.read_text())["mcpServers"]["nemovideo"]["env"]
    assert env == {
        "NEMO_MCP_OUTPUT_DIR": "/videos/out",
        "NEMO_TOKEN": "nmv_usr_explicitly_given",
        "NEMO_SKILL": "music-generator-free-easy",
    }
    assert any("plain text" in w for w in out["warnings"])
    if os.name != "nt":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_no_token_is_written_unless_asked(
    isolated_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEMO_TOKEN", "nmv_usr_from_the_environment")
    target = tmp_path / "cfg.json"
    code, _ = _run_json(capsys, "install", "cursor", "--config", str(target))
    assert code == 0
    assert "nmv_usr" not in target.read_text()


def test_bad_env_pair_is_a_usage_error(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run_json(capsys, "install", "cursor", "--env", "no-equals-sign")
    assert code == 2 and "KEY=VALUE" in out["error"]["message"]


def test_print_portable_matches_the_committed_snippets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _run_json(capsys, "install", "print", "--portable")
    assert code == 0
    clients_dir = Path(__file__).resolve().parents[2] / "manifests" / "clients"
    assert sorted(p.stem for p in clients_dir.glob("*.json")) == sorted(installers.CLIENTS)
    for client in installers.CLIENTS:
        committed = json.loads((clients_dir / f"{client}.json").read_text())
        assert out[client]["config"] == committed, client


def test_print_shows_all_three_and_the_claude_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["install", "print"]) == 0
    text = capsys.readouterr().out
    for title in ("Claude Desktop", "Cursor", "Claude Code"):
        assert f"# {title}: add to " in text
    assert "claude mcp add --scope user nemovideo -- " in text


def test_client_status_for_doctor(isolated_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    assert installers.client_status("cursor", path).exists is False
    _write(path, {"mcpServers": {"x": {"command": "/no/such/dir/nemo-mcp", "args": ["serve"]}}})
    status = installers.client_status("cursor", path)
    assert status.configured_as == ["x"] and status.command_missing == "/no/such/dir/nemo-mcp"
    _write(path, {"mcpServers": OTHER_SERVERS})
    assert installers.client_status("cursor", path).configured_as == []
    path.write_text("{nope")
    assert "not valid JSON" in (installers.client_status("cursor", path).problem or "")


@pytest.mark.parametrize(
    ("path", "cached"),
    [
        ("/home/me/.cache/uv/archive-v0/Ab12/bin/python", True),
        ("/Users/me/Library/Caches/uv/archive-v0/Ab12/bin/python3", True),
        ("C:/Users/me/AppData/Local/uv/cache/archive-v0/Ab12/Scripts/python.exe", True),
        ("/home/me/.local/share/uv/tools/nemo-mcp/bin/python", False),
        ("/home/me/project/.venv/bin/python", False),
    ],
)
def test_uvx_environments_are_recognised(path: str, cached: bool) -> None:
    assert installers._in_uv_cache(Path(path)) is cached


def test_uvx_and_portable_launchers() -> None:
    portable = installers.server_entry(portable=True, env={"NEMO_SKILL": "nemo-mcp"})
    assert portable == {
        "command": "uvx",
        "args": ["nemo-mcp", "serve"],
        "env": {"NEMO_SKILL": "nemo-mcp"},
    }
    uvx = installers.server_entry(launcher="uvx")
    assert Path(uvx["command"]).name.startswith("uvx") and uvx["args"] == ["nemo-mcp", "serve"]
    assert installers.client_entry("claude-code", uvx)["type"] == "stdio"
    assert "type" not in installers.client_entry("cursor", uvx)
