"""Untrusted text: the editing agent's words, titles and file names from drafts, tool names and
error messages from the backend. Cleaned here, and only here, before it is stored or shown.

Two strengths, for two uses:

- stored and summarised (``clean_text``, ``one_line``, ``clean_label``): ANSI escapes and C0/C1
  controls removed, bidi embeddings and overrides removed, line ends normalised; labels single-
  lined, NFC-normalised, double quotes made single (a label is shown in double quotes, which it
  can then never break out of) and capped;
- shown to a person or a model (``clean``, ``quoted_lines``): every control, format (bidi,
  zero-width), private-use and line/paragraph separator character removed, spaces folded, and
  the words quoted line by line (``> ``) so nothing in them can pass for a line of ours.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["cap", "clean", "clean_label", "clean_text", "one_line", "quoted_lines", "truncate"]

# --- stored and summarised ------------------------------------------------------------------
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
    if text.isprintable():  # the usual case: nothing below would change it (one C scan)
        return text
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


# --- shown ----------------------------------------------------------------------------------
# terminal escape sequences: CSI (colours, cursor moves) and OSC (titles, links)
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]"
)
_FOLDED = re.compile(r"[ \t\u00a0]+")


def clean(text: str) -> str:
    """Untrusted text without control, format (bidi, zero-width) or private-use characters."""
    text = _ESCAPES.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = []
    for ch in text:
        if ch == "\n":
            kept.append(ch)
        elif ch == "\t":
            kept.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp"):
            kept.append(ch)
    lines = [_FOLDED.sub(" ", line).strip() for line in "".join(kept).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def cap(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word, marked when cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip() + f" [...] ({len(text) - len(cut)} more characters)"


def quoted_lines(text: str, limit: int) -> list[str]:
    """Untrusted words as quoted lines (``> ...``), cleaned and capped."""
    body = cap(clean(text), limit)
    return [f"> {line}".rstrip() for line in body.split("\n")] if body else []
