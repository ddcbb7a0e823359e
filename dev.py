#!/usr/bin/env python3
"""Project tasks, runnable on a fresh machine with nothing but Python 3.11+.

    python3 dev.py demo     # set up, then run the end-to-end demo against the embedded emulator
    python3 dev.py test     # set up, then ruff, mypy and the whole pytest suite
    python3 dev.py bench    # set up, then the benchmark suite (prints the README table)
    python3 dev.py setup    # only create/refresh .venv (and the test suite's MCP clients)

The environment is rebuilt only when pyproject.toml changes (a hash stamp in .venv). The MCP
clients the tests drive nemo-mcp with (TypeScript SDK, MCP Inspector, conformance suite; exact
versions in tests/node/package-lock.json) and the MCP App's build and browser-test packages
(esbuild, ext-apps, playwright-core; app/package-lock.json) are installed with `npm ci` when npm
is present, again only when a lock file changes. The browser test needs Chromium: `dev.py test`
installs Debian's `chromium` package with apt-get when it is missing and this runs as root on a
system with apt-get. Without npm or Chromium those tests are skipped, except in CI (CI set),
where anything missing fails the run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".nemo-mcp-setup"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
NODE_DIRS = (ROOT / "tests" / "node", ROOT / "app")  # each with package.json + package-lock.json


def _run(*args: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check).returncode


def setup() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    _run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(PY, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(wanted)


def setup_node() -> None:
    """``npm ci`` the test suite's MCP clients and the app's packages (pinned by their locks)."""
    for folder in NODE_DIRS:
        _npm_ci(folder)


def _npm_ci(folder: Path) -> None:
    stamp = folder / "node_modules" / ".nemo-mcp-setup"
    wanted = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        message = "npm not found: the tests that need Node.js packages skip"
        if os.environ.get("CI"):
            sys.exit(f"{message}; CI needs them (install Node.js and npm)")
        print(message, file=sys.stderr, flush=True)
        return
    # --ignore-scripts: nothing here needs an install script, so none runs
    _run(
        npm,
        "ci",
        "--prefix",
        folder,
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--loglevel=error",
    )
    stamp.write_text(wanted)


def setup_browser() -> None:
    """Debian's Chromium for the app's browser test, installed with apt-get where that is
    possible (Linux, apt-get, root); elsewhere the test skips (CI fails: it must run there)."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [apt, "install", "-y", "--no-install-recommends", "chromium"]
        print("+", " ".join(install), flush=True)
        if subprocess.run(install, cwd=ROOT, env=env, check=False).returncode != 0:
            subprocess.run([apt, "update"], cwd=ROOT, env=env, check=False)
            subprocess.run(install, cwd=ROOT, env=env, check=False)
        if shutil.which("chromium"):
            return
    message = "Chromium not found: the app's browser test skips (install Debian's chromium)"
    if os.environ.get("CI"):
        sys.exit(f"{message}; CI needs it")
    print(message, file=sys.stderr, flush=True)


def test(extra: list[str]) -> int:
    setup()
    setup_node()
    setup_browser()
    _run(PY, "-m", "ruff", "check", "src", "tests", "benchmarks", "dev.py")
    _run(PY, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks", "dev.py")
    _run(PY, "-m", "mypy")
    code = _run(PY, "-m", "pytest", *_workers(extra), *extra, check=False)
    if code == 5:
        print("pytest collected no tests: that is a failure, not a pass", file=sys.stderr)
        return 1
    return code


def _workers(extra: list[str]) -> list[str]:
    """Spread the suite over one more worker process than there are CPUs (most tests spend
    their time waiting on the subprocesses and sockets they drive), unless ``-n`` is given.
    Tests that reach the PostgreSQL server share one worker (``--dist loadgroup``, in
    pyproject.toml's pytest options; see tests/conftest.py)."""
    if any(arg.startswith(("-n", "--numprocesses")) for arg in extra):
        return []
    return ["-n", str((os.cpu_count() or 1) + 1)]


def main(argv: list[str]) -> int:
    task = argv[0] if argv else "test"
    rest = argv[1:]
    if task == "setup":
        setup()
        setup_node()
        return 0
    if task == "test":
        return test(rest)
    if task == "demo":
        setup()
        return _run(BIN / "nemo-mcp", "demo", *rest, check=False)
    if task == "bench":
        setup()
        return _run(PY, "-m", "benchmarks", *rest, check=False)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as err:
        sys.exit(err.returncode or 1)
