"""The stream corpus (tests/stream/corpus): raw ``/run_sse`` bodies and what each condenses to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

FOLDER: Final = Path(__file__).resolve().parents[1] / "stream" / "corpus"


def names() -> list[str]:
    """Every stream in the corpus (never none: an empty corpus would test nothing)."""
    found = sorted(p.stem for p in FOLDER.glob("*.sse"))
    assert found, f"no streams in {FOLDER}"
    return found


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    """A stream's raw bytes and its expected result."""
    raw = (FOLDER / f"{name}.sse").read_bytes()
    expected = json.loads((FOLDER / f"{name}.json").read_text(encoding="utf-8"))
    return raw, expected
