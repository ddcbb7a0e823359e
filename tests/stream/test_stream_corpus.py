"""Table-driven: every recorded-style stream in the corpus folder condenses to its expected result.

Each ``NAME.sse`` holds the raw bytes of one ``/run_sse`` body; ``NAME.json`` beside it says what
a person should get out of it. Every stream is also fed in awkward chunkings (1 byte, 7 bytes,
split inside multi-byte characters) and must give the same result.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from nemo_mcp.stream.condenser import TurnCondenser
from nemo_mcp.stream.events import parse_frame
from nemo_mcp.stream.gui import translate
from nemo_mcp.stream.sse import SSEDecoder
from support import corpus

NAMES = corpus.names()


def _chunks(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def _condense(chunks: list[bytes], *, dropped: bool) -> tuple[int, Counter[str], Any]:
    decoder = SSEDecoder()
    condenser = TurnCondenser(start=0.0)
    frames = []
    for chunk in chunks:
        frames.extend(decoder.feed(chunk))
    if not dropped:  # a dropped connection never gets a clean close
        frames.extend(decoder.close())
    kinds: Counter[str] = Counter()
    for i, frame in enumerate(frames):
        for event in parse_frame(frame):
            kinds[event.kind] += 1
            condenser.feed(event, float(i))
    return len(frames), kinds, condenser.result()


def test_corpus_is_complete() -> None:
    wanted = {
        "adk_non_streaming",
        "adk_partial_final",
        "adk_snake_case",
        "typed_dialect",
        "heartbeats",
        "error_frame_v2",
        "error_frame_fstring",
        "model_error",
        "silent_turn",
        "temporary_issue",
        "chinese_reply",
        "dropped",
        "agent_question",
        "agent_question_snake",
        "error_after_text",
        "typed_error",
    }
    assert wanted <= set(NAMES)
    for name in NAMES:
        assert (corpus.FOLDER / f"{name}.json").exists(), name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chunk_size", [1_000_000, 1, 2, 3, 7, 64])
def test_stream_condenses_to_expected(name: str, chunk_size: int) -> None:
    raw, expected = corpus.load(name)
    dropped = bool(expected.get("dropped"))
    n_frames, kinds, summary = _condense(_chunks(raw, chunk_size), dropped=dropped)
    assert n_frames == expected["frames"]
    assert dict(kinds) == expected["kinds"]
    assert summary.reply_text == expected["reply_text"]
    assert summary.had_reply is expected["had_reply"]
    assert summary.partial_text == expected["partial_text"]
    assert summary.steps == expected["steps"]
    assert summary.errors == expected["errors"]
    assert summary.failed is expected["failed"]
    assert summary.touched_keys == expected["touched_keys"]
    assert summary.touched_state is bool(expected["touched_keys"])
    actions = [a.action for a in translate(summary.reply_text, "mcp").actions]
    assert actions == expected["actions"]
    assert summary.question == expected.get("question")
    assert summary.options == expected.get("options", [])


def test_dropped_stream_leaves_its_cut_frame_unparsed() -> None:
    raw, _ = corpus.load("dropped")
    decoder = SSEDecoder()
    decoder.feed(raw)
    assert decoder.buffered_bytes > 0  # the cut frame is still waiting for its end
    flushed = decoder.close()  # a clean close would hand it over; it does not parse as an event
    assert [e.kind for f in flushed for e in parse_frame(f)] == ["unknown"]
