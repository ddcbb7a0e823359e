"""A light start: ``tools/list`` answered from the saved catalog without building the tools, the
studio opened off the start-up path (and its failure told to the calls that need it), and the
stdio transport that keeps the protocol's pipes to itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.extension import advertise
from mcp.client.stdio import stdio_client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from nemo_mcp.config import Settings
from nemo_mcp.errors import ConfigError
from nemo_mcp.manifest import all_manifests, load_manifest, skill_description
from nemo_mcp.mcp.apps import APP_URI, BOUND_TOOLS
from nemo_mcp.mcp.base import NemoMCPServer
from nemo_mcp.mcp.catalog import Catalog, fingerprint
from nemo_mcp.mcp.server import build_server
from nemo_mcp.studio.facade import Studio
from support.processes import INITIALIZE, clean_env

pytestmark = pytest.mark.anyio

LIST_AND_PROBE = """
import json, sys
import anyio
from nemo_mcp.config import Settings
from nemo_mcp.manifest import SkillManifest
from nemo_mcp.mcp.server import build_server
server = build_server(Settings.from_env({"NEMO_MCP_HOME": sys.argv[1]}))
tools = anyio.run(server.list_tools)
print(json.dumps({
    "tools": [t.model_dump(mode="json", by_alias=True) for t in tools],
    "modules": sorted(sys.modules),
    "manifest_validated": SkillManifest.__pydantic_complete__,
    "description": server.description,
}))
"""
BUILT_ONLY_ON_USE = ("nemo_mcp.mcp.tools", "nemo_mcp.studio.views", "nemo_mcp.mcp.resources")


def _list_in_a_new_process(home: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", LIST_AND_PROBE, str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=clean_env({}),
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_second_start_lists_the_tools_from_the_catalog_without_building_them(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    first = _list_in_a_new_process(home)
    assert set(BUILT_ONLY_ON_USE) <= set(first["modules"])  # the probe sees a build
    assert (home / "cache" / "tools-nemo-mcp.json").is_file()

    second = _list_in_a_new_process(home)
    assert second["tools"] == first["tools"]
    assert not set(BUILT_ONLY_ON_USE) & set(second["modules"])
    assert len(second["tools"]) == 9
    # nor the manifest's validators: the server's description is read from the file as it is
    assert first["manifest_validated"] and not second["manifest_validated"]
    assert second["description"] == first["description"] == load_manifest("nemo-mcp").description


def test_an_unknown_skill_still_stops_the_server_before_it_starts(tmp_path: Path) -> None:
    settings = Settings.from_env({"NEMO_MCP_HOME": str(tmp_path), "NEMO_SKILL": "nope"})
    with pytest.raises(ConfigError) as raised:
        build_server(settings)
    with pytest.raises(ConfigError) as loaded:
        load_manifest("nope")
    assert (raised.value.message, raised.value.hint) == (loaded.value.message, loaded.value.hint)
    assert "nemo-mcp" in (raised.value.hint or "")


@pytest.mark.parametrize("skill", ["./nemo-mcp", "NEMO-MCP", "Nemo-MCP", "nemo-mcp.json"])
def test_only_a_skill_s_exact_name_starts_the_server(tmp_path: Path, skill: str) -> None:
    """Not a path to a manifest, nor its name in another case (which a file system that ignores
    case would open): what ``load_manifest`` would refuse when the tools are built."""
    settings = Settings.from_env({"NEMO_MCP_HOME": str(tmp_path), "NEMO_SKILL": skill})
    with pytest.raises(ConfigError, match="Unknown skill"):
        build_server(settings)


async def test_tools_that_fail_to_build_are_built_again_and_never_saved_empty(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env({"NEMO_MCP_HOME": str(tmp_path / "home")})
    server = build_server(settings)
    assert isinstance(server, NemoMCPServer)
    install = server._installers[0]
    failures = [ConfigError("A manifest did not validate.")]

    def flaky() -> None:
        if failures:
            raise failures.pop()
        install()

    server._installers[0] = flaky
    with pytest.raises(ConfigError):
        await server.list_tools()
    assert not (settings.home / "cache" / "tools-nemo-mcp.json").exists()
    assert len(await server.list_tools()) == 9  # the next request builds them


def test_every_skills_description_reads_the_same_without_validation() -> None:
    for name, manifest in all_manifests().items():
        assert skill_description(name) == manifest.description


async def test_a_catalog_from_another_build_or_a_broken_one_is_not_used(tmp_path: Path) -> None:
    settings = Settings.from_env({"NEMO_MCP_HOME": str(tmp_path / "home")})
    fresh = [t.model_dump(mode="json") for t in await build_server(settings).list_tools()]
    path = settings.home / "cache" / "tools-nemo-mcp.json"
    saved = json.loads(path.read_text())

    stale = {"fingerprint": "0" * 64, "tools": [{"name": "stale", "inputSchema": {}}]}
    path.write_text(json.dumps(stale))
    listed = [t.model_dump(mode="json") for t in await build_server(settings).list_tools()]
    assert listed == fresh
    assert json.loads(path.read_text())["fingerprint"] == saved["fingerprint"]  # saved again

    path.write_text('{"fingerprint": "cut sho')
    listed = [t.model_dump(mode="json") for t in await build_server(settings).list_tools()]
    assert listed == fresh


def test_the_fingerprint_follows_the_manifests(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "a.json").write_text("{}")
    before = fingerprint("nemo-mcp", manifests)
    assert fingerprint("nemo-mcp", manifests) == before
    assert fingerprint("another-skill", manifests) != before
    (manifests / "a.json").write_text('{"changed": true}')
    assert fingerprint("nemo-mcp", manifests) != before


def test_a_read_only_state_folder_only_costs_the_time(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the state folder would be")
    catalog = Catalog(blocked, "nemo-mcp")
    catalog.save([{"name": "x"}])  # no exception
    assert catalog.load() is None


async def test_a_studio_that_cannot_open_is_told_to_each_call(tmp_path: Path) -> None:
    """The server still starts and lists; each call that needs the studio gets its error as a
    readable result."""

    @asynccontextmanager
    async def broken(settings: Settings) -> AsyncIterator[Studio]:
        raise ConfigError("The state folder is unusable.", hint="Set NEMO_MCP_HOME.")
        yield  # pragma: no cover

    settings = Settings.from_env({"NEMO_MCP_HOME": str(tmp_path / "home")})
    async with Client(build_server(settings, studio_factory=broken), mode="legacy") as client:
        assert len((await client.list_tools()).tools) == 9
        for _ in range(2):
            result = await client.call_tool("nemo_get_credits", {})
            assert result.is_error
            text = result.content[0].text  # type: ignore[union-attr]
            assert text.startswith("Error (config): The state folder is unusable."), text
            assert "NEMO_MCP_HOME" in text


STRAY_WRITER = """
import os, sys
import anyio
from mcp.server.mcpserver import MCPServer
from nemo_mcp.mcp.stdio import serve_stdio

server = MCPServer("stray")

@server.tool()
def noisy() -> str:
    \"\"\"Write to stdout the ways a library or a child process might.\"\"\"
    print("stray print")
    sys.stdout.flush()
    os.write(1, b"stray bytes on fd 1\\n")
    os.system("echo stray child")
    return "quiet answer"

anyio.run(serve_stdio, server)
"""


async def test_stray_writes_to_stdout_never_reach_the_protocol(tmp_path: Path) -> None:
    script = tmp_path / "stray_server.py"
    script.write_text(textwrap.dedent(STRAY_WRITER))
    errlog = tmp_path / "stderr.log"
    params = StdioServerParameters(command=sys.executable, args=[str(script)], env=clean_env({}))
    with errlog.open("w") as err:
        async with Client(stdio_client(params, errlog=err), mode="legacy") as client:
            for _ in range(2):
                result = await client.call_tool("noisy", {})
                assert not result.is_error
                assert result.content[0].text == "quiet answer"  # type: ignore[union-attr]
    logged = errlog.read_text()
    assert "Error" not in logged and "error" not in logged, logged
    for stray in ("stray print", "stray bytes on fd 1", "stray child"):
        assert stray in logged, logged


def test_the_loop_pipes_are_used_only_for_pipes() -> None:
    """A terminal or a file keeps the SDK's own transport (a pipe is what clients give)."""
    probe = "from nemo_mcp.mcp.stdio import loop_pipes_usable as u; print(u())"
    piped = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, input=""
    )
    assert piped.stdout.strip() == ("False" if os.name == "nt" else "True")
    with open(os.devnull) as devnull:
        from_file = subprocess.run(
            [sys.executable, "-c", probe], stdin=devnull, capture_output=True, text=True, timeout=60
        )
    assert from_file.stdout.strip() == "False"


def test_serve_answers_on_pipes_and_exits_cleanly_when_stdin_closes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nemo_mcp", "serve"],
        input=json.dumps(INITIALIZE) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env({"NEMO_MCP_HOME": str(tmp_path / "home")}),
    )
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower(), done.stderr
    answer = json.loads(done.stdout.splitlines()[0])
    assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "nemo-mcp"


async def test_tools_listed_from_the_catalog_still_point_at_the_app(tmp_path: Path) -> None:
    """The app's tools are bound per client after the list is made, so a list from the saved
    catalog (a second start) binds them like a freshly built one."""
    apps = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
    settings = Settings.from_env({"NEMO_MCP_HOME": str(tmp_path / "home")})
    for _ in range(2):  # built, then from the catalog
        server = build_server(settings)
        async with Client(server, mode="legacy", extensions=[apps]) as client:  # type: ignore[arg-type]
            tools = (await client.list_tools()).tools
        bound = {t.name: t.meta["ui"]["resourceUri"] for t in tools if t.meta and "ui" in t.meta}
        assert bound == dict.fromkeys(BOUND_TOOLS, APP_URI)
    assert (settings.home / "cache" / "tools-nemo-mcp.json").is_file()
