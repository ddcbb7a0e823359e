"""The package's layout, checked: imports flow one way between rooms, modules stay small, the MCP
face starts light, and no package registry is named anywhere in the project.

Rooms, lowest first (a room may import its own modules and any lower room, never a higher one):

    0  constants contract redact untrusted faces addresses   facts and pure helpers
    1  errors media                                           the error tree; media probing
    2  manifest files                                         the skill manifest; paths and roots
    3  config                                                 settings
    4  stream timeline store                                  the pure core; the state store
    5  api                                                    the NemoVideo client
    6  studio                                                 the facade and its operations
    7  mcp setup                                              the MCP face; doctor, installers...
    8  hosted                                                 many users and workers over one
                                                              database (serve --hosted)
    9  cli                                                    the command line
   10  __init__ __main__                                      the public namespace; entry point

The emulator stands apart: it speaks the contract like the client but imports only ``contract``,
``constants`` and ``addresses``; the product imports it only inside the functions that start it
(the ``emulator`` command and the demo).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "nemo_mcp"
MAX_LINES = 400

LEVELS: dict[str, int] = {
    **dict.fromkeys(("constants", "contract", "redact", "untrusted", "faces", "addresses"), 0),
    "__version__": 0,  # ``from nemo_mcp import __version__``: the package's metadata
    **dict.fromkeys(("errors", "media"), 1),
    **dict.fromkeys(("manifest", "files"), 2),
    "config": 3,
    **dict.fromkeys(("stream", "timeline", "store"), 4),
    "api": 5,
    "studio": 6,
    **dict.fromkeys(("mcp", "setup"), 7),
    "hosted": 8,
    "cli": 9,
    **dict.fromkeys(("__init__", "__main__"), 10),
}
EMULATOR_MAY_IMPORT = {"emulator", "contract", "constants", "addresses"}
STARTS_THE_EMULATOR = {"nemo_mcp.cli.parser", "nemo_mcp.cli.admin", "nemo_mcp.setup.demo"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. nemo_mcp.studio.chat
    target: str  # the imported module (or nemo_mcp.<name> for ``from nemo_mcp import name``)
    line: int
    lazy: bool  # inside a function (run when called, not when the module is imported)

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules() -> list[Path]:
    found = sorted(PACKAGE.rglob("*.py"))
    assert len(found) > 50, found  # the check below must have something to check
    return found


def imports_of(path: Path) -> list[Import]:
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy_nodes = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
    }
    found: list[Import] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "nemo_mcp":
                targets = [f"nemo_mcp.{alias.name}" for alias in node.names]
            elif node.module.startswith("nemo_mcp."):
                targets = [node.module]
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{module}:{node.lineno}: use absolute imports")
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.split(".")[0] == "nemo_mcp"]
        found.extend(Import(module, t, node.lineno, id(node) in lazy_nodes) for t in targets)
    return found


def all_imports() -> list[Import]:
    return [imp for path in modules() for imp in imports_of(path)]


def test_every_room_has_a_level() -> None:
    rooms = {room(module_name(p)) for p in modules()} - {"emulator"}
    assert rooms <= set(LEVELS), rooms - set(LEVELS)


def upward(imports: list[Import]) -> list[str]:
    """The imports that go from a room to a room at its level or above."""
    found = []
    for imp in imports:
        here, there = room(imp.module), room(imp.target)
        if here == there or "emulator" in (here, there):
            continue
        if LEVELS[there] >= LEVELS[here]:
            found.append(f"{imp.where} (level {LEVELS[here]} -> {LEVELS[there]})")
    return found


def test_imports_flow_down_between_rooms() -> None:
    assert upward(all_imports()) == []


def test_the_check_catches_an_upward_import() -> None:
    probe = PACKAGE / "timeline" / "model.py"
    lazy = Import("nemo_mcp.timeline.model", "nemo_mcp.studio.views", 9, lazy=True)
    assert upward([lazy]) == [f"{lazy.where} (level 4 -> 6)"]  # lazy imports count too
    sideways = Import("nemo_mcp.stream.gui", "nemo_mcp.store.base", 1, lazy=False)
    assert upward([sideways]) != []
    assert imports_of(probe), "the parser finds the model's imports"


def test_the_emulator_imports_only_the_contract() -> None:
    outside = [
        imp.where
        for imp in all_imports()
        if room(imp.module) == "emulator" and room(imp.target) not in EMULATOR_MAY_IMPORT
    ]
    assert outside == []


def test_the_product_starts_the_emulator_only_when_asked() -> None:
    users = [
        imp
        for imp in all_imports()
        if room(imp.target) == "emulator" and room(imp.module) != "emulator"
    ]
    assert users, "the emulator command and the demo start it"
    wrong = [i.where for i in users if i.module not in STARTS_THE_EMULATOR or not i.lazy]
    assert wrong == []


def test_modules_stay_small() -> None:
    big = {}
    for path in modules():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            big[str(path.relative_to(PACKAGE))] = lines
    assert big == {}, f"split these modules (at most {MAX_LINES} lines each)"


LIGHT_START = """
import json, sys
from nemo_mcp.config import Settings
from nemo_mcp.mcp.server import build_server
build_server(Settings.from_env({"NEMO_MCP_HOME": sys.argv[1]}))
print(json.dumps(sorted(sys.modules)))
"""
HEAVY = (
    "httpx",
    "sqlite3",
    "defusedxml",
    "av",
    "numpy",
    "PIL",
    "nemo_mcp.api",
    "nemo_mcp.store.sqlite",
    "nemo_mcp.stream",
    "nemo_mcp.timeline",
    "nemo_mcp.studio.facade",
    "nemo_mcp.emulator",
    "nemo_mcp.setup",
)


def test_the_mcp_face_builds_without_the_studios_heavy_parts(tmp_path: Path) -> None:
    """Building the MCP server (what ``tools/list`` needs) imports neither the client, the store,
    the stream core nor media libraries: tools import them when they are called."""
    proc = subprocess.run(
        [sys.executable, "-c", LIGHT_START, str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(proc.stdout)
    assert "nemo_mcp.mcp.server" in loaded and "mcp" in loaded  # the probe itself works
    heavy = [m for m in loaded if m in HEAVY or m.startswith(tuple(h + "." for h in HEAVY))]
    assert heavy == []


def test_importing_the_package_imports_nothing_else() -> None:
    code = "import sys, nemo_mcp; print(sorted(m for m in sys.modules if 'nemo_mcp' in m))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "['nemo_mcp']"


REGISTRY_HOSTS = re.compile(r"pypi\.org|npm[j]s|files\.pythonhosted", re.IGNORECASE)


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / name for name in out.decode().split("\0") if name]


def test_no_package_registry_is_named_by_its_host() -> None:
    files = tracked_files()
    assert len(files) > 100, files
    named = []
    for path in files:
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        named += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in REGISTRY_HOSTS.finditer(text)]
    assert named == [], "name registries in words (PyPI, npm); link the project's own pages"
