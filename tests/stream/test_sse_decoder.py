"""The incremental SSE decoder and the idle-timed frame reader."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nemo_mcp.errors import StreamError
from nemo_mcp.stream.events import parse_frame
from nemo_mcp.stream.sse import (
    IdleTimeout,
    SSEDecoder,
    SSEFrame,
    SSELimitError,
    iter_frames,
)
from support import corpus

CORPUS = [corpus.load(name)[0] for name in corpus.names()]


def decode_all(chunks: list[bytes], **caps: int) -> list[SSEFrame]:
    decoder = SSEDecoder(**caps)
    frames: list[SSEFrame] = []
    for chunk in chunks:
        frames.extend(decoder.feed(chunk))
    frames.extend(decoder.close())
    return frames


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


# --- line endings and fields ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "data"),
    [
        (b"data: a\n\n", ["a"]),
        (b"data: a\r\n\r\n", ["a"]),
        (b"data: a\r\r", ["a"]),
        (b"data: a\ndata: b\n\n", ["a\nb"]),
        (b"data:a\n\n", ["a"]),
        (b"data:  two spaces\n\n", [" two spaces"]),
        (b"data\n\n", [""]),
        (b"data:\n\n", [""]),
        (b"\xef\xbb\xbfdata: bom\n\n", ["bom"]),
        (b"data: x\n\ndata: y\n\n", ["x", "y"]),
        (b"data: no final blank line\n", ["no final blank line"]),
        (b"data: no line end at all", ["no line end at all"]),
        (b"\n\n\ndata: a\n\n\n\n", ["a"]),
        (b"foo: bar\ndata: a\n\n", ["a"]),
    ],
)
def test_data_lines(raw: bytes, data: list[str]) -> None:
    assert [f.data for f in decode_all([raw]) if not f.is_comment] == data


def test_fields_and_comments() -> None:
    frames = decode_all([b": hello\nretry: 1500\nid: 7\nevent: update\ndata: x\n\nid: 8\n\n"])
    assert frames[0] == SSEFrame(is_comment=True, comment="hello")
    assert frames[1] == SSEFrame(data="x", event="update", id="7", retry=1500)
    assert frames[2] == SSEFrame(data=None, id="8")


def test_bad_retry_and_nul_id_are_ignored() -> None:
    decoder = SSEDecoder()
    frames = decoder.feed(b"retry: soon\nid: a\x00b\ndata: x\n\n")
    assert frames == [SSEFrame(data="x")]
    assert decoder.last_event_id == ""


def test_bom_only_stripped_at_stream_start() -> None:
    frames = decode_all([b"data: a\n\n\xef\xbb\xbfdata: b\n\n"])
    assert [f.data for f in frames] == ["a"]  # the second "field" is named "\ufeffdata"


def test_cr_at_chunk_end_then_lf_is_one_line_end() -> None:
    # "data: a\r" | "\n" | "\r\n": a CRLF split over chunks, then a blank line -> one event.
    assert [f.data for f in decode_all([b"data: a\r", b"\n", b"\r\n"])] == ["a"]
    # A lone CR at a chunk end followed by another CR is a blank line.
    assert [f.data for f in decode_all([b"data: a\r", b"\rdata: b\r\r"])] == ["a", "b"]


def test_utf8_split_across_chunks() -> None:
    raw = "data: 城市之梦 🎬\n\n".encode()
    for i in range(len(raw) + 1):
        assert [f.data for f in decode_all([raw[:i], raw[i:]])] == ["城市之梦 🎬"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode_all([b"data: \xff\xfe ok\n\n"])[0].data == "\ufffd\ufffd ok"


# --- caps ----------------------------------------------------------------------------------------
def test_line_cap_is_checked_before_buffering() -> None:
    decoder = SSEDecoder(max_line_bytes=16, max_event_bytes=64)
    decoder.feed(b"data: 0123456789")  # 16 bytes, allowed
    assert decoder.buffered_line_bytes == 16
    with pytest.raises(SSELimitError):
        decoder.feed(b"x")
    assert decoder.buffered_bytes == 0
    with pytest.raises(StreamError):  # finished for good
        decoder.feed(b"\n\n")


def test_endless_line_never_grows_past_the_cap() -> None:
    decoder = SSEDecoder(max_line_bytes=1024, max_event_bytes=4096)
    with pytest.raises(SSELimitError):
        for _ in range(10_000):
            decoder.feed(b"a" * 100)
            assert decoder.buffered_line_bytes <= 1024


def test_event_cap_counts_joined_data() -> None:
    decoder = SSEDecoder(max_line_bytes=100, max_event_bytes=20)
    decoder.feed(b"data: 0123456789\n")  # 10
    decoder.feed(b"data: 012345678\n")  # 10 + 1 newline + 9 = 20: allowed
    assert decoder.buffered_event_bytes == 20
    with pytest.raises(SSELimitError) as info:
        decoder.feed(b"data:\n")
    assert info.value.kind == "stream_too_large"


def test_limit_error_carries_frames_completed_before_it() -> None:
    decoder = SSEDecoder(max_line_bytes=32, max_event_bytes=64)
    with pytest.raises(SSELimitError) as info:
        decoder.feed(b"data: ok\n\ndata: " + b"x" * 100 + b"\n\n")
    assert [f.data for f in info.value.frames] == ["ok"]
    assert isinstance(info.value, StreamError)


def test_caps_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(max_line_bytes=0)


# --- properties ----------------------------------------------------------------------------------
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.sampled_from(CORPUS),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40),
)
def test_any_chunking_gives_the_same_frames_and_events(stream: bytes, cuts: list[int]) -> None:
    frames = decode_all(split_at(stream, cuts))
    whole = decode_all([stream])
    assert frames == whole
    assert [parse_frame(f) for f in frames] == [parse_frame(f) for f in whole]


_LINE = st.one_of(
    st.sampled_from(
        [b"data: x", b"data:", b": c", b"id: 1", b"event: e", b"retry: 10", b"", b"data: \xe5\x9f"]
    ),
    st.binary(max_size=12).map(lambda b: b"data: " + b.replace(b"\r", b"").replace(b"\n", b"")),
)


@settings(max_examples=200)
@given(
    lines=st.lists(_LINE, max_size=30),
    endings=st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=1, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=1_000), max_size=20),
)
def test_any_line_endings_and_chunking_agree(
    lines: list[bytes], endings: list[bytes], cuts: list[int]
) -> None:
    raw = b"".join(line + endings[i % len(endings)] for i, line in enumerate(lines))
    whole = decode_all([raw])
    assert decode_all(split_at(raw, cuts)) == whole
    assert decode_all([bytes([b]) for b in raw]) == whole


@settings(max_examples=300)
@given(
    chunks=st.lists(st.binary(max_size=200), max_size=30),
    max_line=st.integers(min_value=1, max_value=64),
    max_event=st.integers(min_value=1, max_value=256),
)
def test_arbitrary_bytes_never_crash_or_exceed_caps(
    chunks: list[bytes], max_line: int, max_event: int
) -> None:
    decoder = SSEDecoder(max_line_bytes=max_line, max_event_bytes=max_event)
    try:
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                assert frame.data is None or isinstance(frame.data, str)
            assert decoder.buffered_line_bytes <= max_line
            assert decoder.buffered_event_bytes <= max_event
        decoder.close()
    except StreamError:
        pass
    assert decoder.buffered_line_bytes <= max_line
    assert decoder.buffered_event_bytes <= max_event


# --- iter_frames ---------------------------------------------------------------------------------
async def _gen(*items: bytes | float) -> AsyncIterator[bytes]:
    for item in items:
        if isinstance(item, float):
            await anyio.sleep(item)
        else:
            yield item


@pytest.mark.anyio
async def test_iter_frames_yields_and_flushes() -> None:
    frames = [f async for f in iter_frames(_gen(b"data: a\n", b"\ndata: b"), idle_timeout=5)]
    assert [f.data for f in frames] == ["a", "b"]


@pytest.mark.anyio
async def test_iter_frames_idle_timeout() -> None:
    got: list[SSEFrame] = []
    with pytest.raises(IdleTimeout) as info:
        async for frame in iter_frames(
            _gen(b"data: a\n\n", 5.0, b"data: b\n\n"), idle_timeout=0.05
        ):
            got.append(frame)
    assert [f.data for f in got] == ["a"]
    assert isinstance(info.value, StreamError)
    assert info.value.kind == "stream_idle"


@pytest.mark.anyio
async def test_heartbeats_and_comments_reset_the_idle_timer() -> None:
    items: list[bytes | float] = []
    for _ in range(6):
        items += [0.03, b": ping\n"]  # 6 x 30 ms > 50 ms in all, but never 50 ms without a frame
    items.append(b"data: done\n\n")
    frames = [f async for f in iter_frames(_gen(*items), idle_timeout=0.05)]
    assert frames[-1].data == "done"
    assert sum(f.is_comment for f in frames) == 6


@pytest.mark.anyio
async def test_bytes_without_a_frame_do_not_reset_the_idle_timer() -> None:
    items: list[bytes | float] = [b"data: a\n\n"]
    items += [0.02, b"d", 0.02, b"a", 0.02, b"t", 0.02, b"a"]  # a frame that never completes
    with pytest.raises(IdleTimeout):
        async for _ in iter_frames(_gen(*items, 1.0), idle_timeout=0.05):
            pass


@pytest.mark.anyio
async def test_iter_frames_yields_frames_before_a_limit_error() -> None:
    got: list[str | None] = []
    with pytest.raises(SSELimitError):
        async for frame in iter_frames(
            _gen(b"data: ok\n\ndata: " + b"x" * 50), idle_timeout=5, max_line_bytes=16
        ):
            got.append(frame.data)
    assert got == ["ok"]
