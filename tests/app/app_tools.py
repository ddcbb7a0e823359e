"""What the app's tests need from outside Python: Node.js, the app's npm packages (esbuild,
ext-apps, playwright-core; ``app/package-lock.json``, installed by ``dev.py``) and Debian's
Chromium. Missing ones skip the tests locally and fail them in CI, which must run them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "app"
BUILT = REPO / "src" / "nemo_mcp" / "assets" / "app.html"
ARTIFACTS = REPO / ".test-artifacts" / "app"


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run this test: `python3 dev.py test` sets it up)")
    pytest.skip(reason)


def node() -> str:
    found = shutil.which("node")
    if found is None:
        unavailable("Node.js is not installed")
        raise AssertionError("unreachable")
    return found


def app_packages() -> Path:
    if not (APP_DIR / "node_modules" / "esbuild").is_dir():
        unavailable("the app's npm packages are missing (npm ci --prefix app)")
    return APP_DIR / "node_modules"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("Chromium is not installed (dev.py installs Debian's chromium where it can)")
    raise AssertionError("unreachable")


def build(*args: str) -> None:
    """Run the app's build (``app/build.mjs``) with these arguments."""
    subprocess.run(
        [node(), str(APP_DIR / "build.mjs"), *args],
        cwd=APP_DIR,
        check=True,
        timeout=180,
        capture_output=True,
    )
