"""Cleaning untrusted text (agent replies, titles, tool names) before it is shown anywhere."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["clean_label", "clean_text", "one_line", "truncate"]

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# C0/C1 controls except TAB and LF, DEL, and the bidi embedding/override/isolate characters that
# can make text read differently from what it says.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
ELLIPSIS: Final = "…"


def clean_text(text: str) -> str:
    """Strip ANSI escapes and control characters, normalise line ends; keep newlines and tabs."""
    if not text:
        return ""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text)
    return _BLANK_LINES.sub("\n\n", text)


def one_line(text: str) -> str:
    """``clean_text`` and then collapse every run of whitespace into one space."""
    return _SPACES.sub(" ", clean_text(text)).strip()


def truncate(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``marker`` when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return text[:limit]
    return text[: limit - len(marker)].rstrip() + marker


def clean_label(text: str, limit: int) -> str:
    """A short single-line label: cleaned, NFC-normalised, double quotes made single, capped."""
    text = unicodedata.normalize("NFC", one_line(text)).replace('"', "'")
    return truncate(text, limit)
