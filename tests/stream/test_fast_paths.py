"""The condensing pipeline's fast paths give exactly what the general paths give."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemo_mcp import untrusted
from nemo_mcp.stream.events import load_json, parse_data


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [true, null, 2.5], "c": {"d": "é"}}',
        '{"a": 1, "a": 2}',  # duplicate keys: the last wins, as in json.loads
        "123456789012345678901234567890",  # beyond 64 bits: msgspec refuses, json.loads reads
        '{"x": NaN, "y": Infinity}',  # not JSON, but json.loads reads it
        '"\\ud800"',  # a lone surrogate
        '{"e": 1e400}',
    ],
)
def test_load_json_reads_what_json_loads_reads(text: str) -> None:
    ours, theirs = load_json(text), json.loads(text)
    if isinstance(theirs, dict) and any(
        isinstance(v, float) and math.isnan(v) for v in theirs.values()
    ):
        assert math.isnan(ours["x"]) and ours["y"] == theirs["y"]
    else:
        assert ours == theirs


@pytest.mark.parametrize("text", ["{", '{"a": }', "", "[1, 2", '{"error": "say "hi""}'])
def test_load_json_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        load_json(text)


def test_an_unreadable_frame_is_still_understood_or_named() -> None:
    assert parse_data('{"error": "say "hi" please"}')[0].kind == "error"
    assert parse_data("{not json")[0].kind == "unknown"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(JSON)
def test_load_json_agrees_on_any_json(value: object) -> None:
    text = json.dumps(value)
    assert load_json(text) == json.loads(text)


def test_printable_text_is_what_clean_text_would_leave_alone() -> None:
    """``clean_text`` returns printable text untouched: no character it removes or changes is
    printable (checked for every character of the Basic Multilingual Plane)."""
    touched = [
        c
        for c in map(chr, range(0x10000))
        if c.isprintable() and (untrusted._CONTROLS.search(c) or c in "\x1b\r\n")
    ]
    assert touched == []


@given(st.text())
def test_clean_text_fast_path_agrees(text: str) -> None:
    expected = untrusted._BLANK_LINES.sub(
        "\n\n",
        untrusted._CONTROLS.sub(
            "",
            untrusted._ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n"),
        ),
    )
    assert untrusted.clean_text(text) == expected
