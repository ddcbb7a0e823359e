"""The client bundles in ``manifests/``: MCPB (official validator), server.json, versions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

import nemo_mcp
from nemo_mcp import config
from nemo_mcp.manifest import all_manifests

ROOT = Path(__file__).resolve().parents[2]
MCPB = ROOT / "manifests" / "mcpb" / "manifest.json"
SERVER_JSON = ROOT / "manifests" / "server.json"
MCPB_PACKAGE = "@anthropic-ai/mcpb@^2"
SERVER_TOOLS = {
    "nemo_upload",
    "nemo_chat",
    "nemo_get_state",
    "nemo_get_credits",
    "nemo_export",
    "nemo_wait",
    "nemo_cancel_render",
    "nemo_new_session",
    "nemo_list_sessions",
}


def _pyproject_version() -> str:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = data["project"]["version"]
    assert isinstance(version, str)
    return version


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# ------------------------------------------------------------------------------ versions
def test_versions_are_in_sync() -> None:
    version = _pyproject_version()
    assert nemo_mcp.__version__ == version
    mcpb = _load(MCPB)
    assert mcpb["version"] == version
    assert f"nemo-mcp=={version}" in mcpb["server"]["mcp_config"]["args"]
    server = _load(SERVER_JSON)
    assert server["version"] == version
    assert [p["version"] for p in server["packages"]] == [version]
    assert all_manifests()["nemo-mcp"].version == version


# ------------------------------------------------------------------------------- MCPB
def _mcpb_validator() -> Path:
    """The official validator, installed once into a cached folder under the temp dir."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("Node.js and npm are not installed: the official MCPB validator needs them")
    prefix = Path(tempfile.gettempdir()) / "nemo-mcp-tests-mcpb"
    binary = prefix / "node_modules" / ".bin" / ("mcpb.cmd" if os.name == "nt" else "mcpb")
    if not binary.exists():
        proc = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                MCPB_PACKAGE,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"npm install {MCPB_PACKAGE} failed:\n{proc.stderr}"
    assert binary.exists()
    return binary


def _validate(binary: Path, manifest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), "validate", str(manifest)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_mcpb_manifest_passes_the_official_validator(tmp_path: Path) -> None:
    binary = _mcpb_validator()
    ok = _validate(binary, MCPB)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "validation passes" in ok.stdout
    # the validator really checks: a manifest without its author is refused
    broken = _load(MCPB)
    del broken["author"]
    bad_path = tmp_path / "manifest.json"
    bad_path.write_text(json.dumps(broken))
    bad = _validate(binary, bad_path)
    assert bad.returncode != 0 and "author" in bad.stdout


def test_mcpb_manifest_shape() -> None:
    m = _load(MCPB)
    assert m["name"] == "nemo-mcp"
    server = m["server"]
    assert (ROOT / "manifests" / "mcpb" / server["entry_point"]).is_file()
    mcp_config = server["mcp_config"]
    assert mcp_config["command"] == "uvx" and mcp_config["args"][-1] == "serve"
    env = mcp_config["env"]
    assert env["NEMO_TOKEN"] == "${user_config.nemo_token}"
    token = m["user_config"]["nemo_token"]
    assert token["sensitive"] is True and token["required"] is False
    assert m["user_config"]["output_dir"]["type"] == "directory"
    for value in env.values():  # every ${user_config.X} names a declared option
        for key in re.findall(r"\$\{user_config\.([a-z_]+)\}", value):
            assert key in m["user_config"]
    for name in env:
        assert name in config.__doc__  # only variables the server reads


# -------------------------------------------------------------------------- server.json
def test_server_json_shape() -> None:
    s = _load(SERVER_JSON)
    assert s["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert s["$schema"].endswith("/server.schema.json")
    for key in ("name", "description", "version", "packages"):
        assert key in s
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", s["name"])
    assert s["name"].startswith("io.github.") and s["name"].endswith("/nemo-mcp")
    assert 1 <= len(s["description"]) <= 100
    (pkg,) = s["packages"]
    for key in ("registryType", "identifier", "version", "transport"):
        assert key in pkg
    assert pkg["registryType"] == "pypi" and pkg["identifier"] == "nemo-mcp"
    assert pkg["transport"] == {"type": "stdio"}
    assert pkg["packageArguments"] == [{"type": "positional", "value": "serve"}]
    env = {v["name"]: v for v in pkg["environmentVariables"]}
    assert env["NEMO_TOKEN"]["isSecret"] is True and env["NEMO_TOKEN"]["isRequired"] is False
    assert env["NEMO_API_URL"]["default"] == config.DEFAULT_API_URL
    assert sorted(env["NEMO_SKILL"]["choices"]) == sorted(all_manifests())
    for name, var in env.items():
        assert name in config.__doc__
        assert var.get("format", "string") in {"string", "number", "boolean", "filepath"}
        assert var["isRequired"] is False


# ---------------------------------------------------------------------------- the tools
@pytest.mark.anyio
async def test_mcpb_tools_match_the_server() -> None:
    from mcp import Client

    from nemo_mcp.mcp.server import build_server

    async with Client(build_server()) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert set(listed) == SERVER_TOOLS
    bundle = [t["name"] for t in _load(MCPB)["tools"]]
    assert len(bundle) == len(set(bundle))
    assert set(bundle) == set(listed)
