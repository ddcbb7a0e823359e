"""The app shipped inside the package is the app in ``app/src``, built: one self-contained HTML
file, rebuilt here from source and compared byte for byte; its TypeScript (and the test host's)
type-checks (strict)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from app_tools import APP_DIR, BUILT, app_packages, build, node


def test_the_committed_app_is_built_from_the_current_source(tmp_path: Path) -> None:
    app_packages()
    fresh = tmp_path / "app.html"
    build("--out", str(fresh))
    assert fresh.read_bytes() == BUILT.read_bytes(), (
        "src/nemo_mcp/assets/app.html is out of date: run `node app/build.mjs` and commit it"
    )


def test_the_app_loads_nothing_from_the_network() -> None:
    html = BUILT.read_text(encoding="utf-8")
    assert html.count("<script") == 1 and "<script>" in html  # inline, no src
    assert "<link" not in html and "@import" not in html and "url(http" not in html


def test_the_app_type_checks() -> None:
    modules = app_packages()
    proc = subprocess.run(
        [node(), str(modules / "typescript" / "bin" / "tsc"), "-p", str(APP_DIR)],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
