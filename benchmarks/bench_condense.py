"""Throughput and memory of the condense pipeline: SSE bytes -> frames -> events -> turn summary.

A synthetic ``/run_sse`` body of ``n_events`` frames (long-running tool calls, tool responses
carrying a ``stateDelta`` draft, heartbeats in every form, streamed partial text with its final
aggregated event, thoughts and a few ``{"type": ...}`` frames) is generated in small batches and
cut at random byte positions, then decoded, parsed and condensed. Only the pipeline is timed;
a second pass under ``tracemalloc`` measures its peak memory, which stays flat however long the
stream is.

    python -m benchmarks.bench_condense [N]      # default N = 1,000,000

In the suite (``rows``) it runs next to a floor measured on the same stream: splitting frames
and ``json.loads`` on each, the least any parser of this stream must do. The ratio is how many
times slower the whole pipeline is than that floor.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
import tracemalloc
from collections.abc import Iterator

from benchmarks.common import Row, median
from nemo_mcp.stream.condenser import TurnCondenser
from nemo_mcp.stream.events import parse_frame
from nemo_mcp.stream.sse import SSEDecoder

BATCH_BYTES = 256 * 1024  # generated (and held) at a time
MAX_CHUNK = 16 * 1024  # network chunks are cut at random sizes up to this


def _frame(obj: object) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


_ACTIONS: dict[str, dict[str, object]] = {
    "stateDelta": {},
    "artifactDelta": {},
    "requestedAuthConfigs": {},
}
_DRAFT = {
    "t": [
        {"tt": 0, "sg": [{"d": 10000, "name": "city timelapse", "src": "https://cdn.x/v.mp4"}]},
        {"tt": 1, "sg": [{"d": 10000, "name": "Lo-fi", "volume": 0.35}]},
        {"tt": 7, "sg": [{"s": 0, "d": 3000, "text": "Urban Dreams"}]},
    ],
    "m": {"title": "Urban Dreams", "width": 1920, "height": 1080},
}


def _templates() -> list[tuple[float, bytes]]:
    """(weight, frame) pairs; ``#N#`` is replaced by a running number."""
    base = {"invocationId": "e-#N#", "author": "nemo_agent", "id": "ev#N#", "timestamp": 1.0}
    call = {
        **base,
        "content": {
            "parts": [
                {
                    "functionCall": {
                        "id": "adk-#N#",
                        "name": "generate_video_with_seedance",
                        "args": {"prompt": "city timelapse at night", "duration": 10},
                    }
                }
            ],
            "role": "model",
        },
        "actions": _ACTIONS,
        "longRunningToolIds": ["adk-#N#"],
    }
    response = {
        **base,
        "content": {
            "parts": [
                {
                    "functionResponse": {
                        "id": "adk-#N#",
                        "name": "edit_multitrack",
                        "response": {"status": "success", "url": "https://cdn.x/#N#.mp4"},
                    }
                }
            ],
            "role": "user",
        },
        "actions": {**_ACTIONS, "stateDelta": {"draft": _DRAFT}},
    }
    partial = {
        **base,
        "content": {"parts": [{"text": "word #N# "}], "role": "model"},
        "partial": True,
        "actions": _ACTIONS,
    }
    final = {
        **base,
        "content": {
            "parts": [{"text": "I added the title and lowered the music to 35% (#N#)."}],
            "role": "model",
        },
        "finishReason": "STOP",
        "actions": _ACTIONS,
    }
    thought = {
        **base,
        "content": {"parts": [{"text": "Planning step #N#", "thought": True}], "role": "model"},
        "actions": _ACTIONS,
    }
    return [
        (0.10, _frame(call)),
        (0.10, _frame(response)),
        (0.12, b": ping\n\n"),
        (0.06, b"data:\n\n"),
        (0.06, b"data: heartbeat\n\n"),
        (0.06, _frame({"type": "heartbeat"})),
        (0.35, _frame(partial)),
        (0.05, _frame(final)),
        (0.03, _frame(thought)),
        (0.04, _frame({"type": "tool_call", "name": "add_title", "args": {"text": "#N#"}})),
        (0.03, _frame({"type": "text", "content": "Typed dialect message #N#"})),
    ]


def generate(n_events: int, *, seed: int = 7) -> Iterator[list[bytes]]:
    """Batches of network chunks that together hold ``n_events`` frames."""
    rng = random.Random(seed)
    weighted = _templates()
    frames = [f for _, f in weighted]
    weights = [w for w, _ in weighted]
    buffer = bytearray()
    produced = 0
    while produced < n_events:
        picks = rng.choices(frames, weights, k=min(1000, n_events - produced))
        for template in picks:
            produced += 1
            buffer += template.replace(b"#N#", str(produced).encode())
        if len(buffer) >= BATCH_BYTES or produced >= n_events:
            chunks: list[bytes] = []
            view = bytes(buffer)
            buffer.clear()
            pos = 0
            while pos < len(view):
                size = rng.randint(1, MAX_CHUNK)
                chunks.append(view[pos : pos + size])
                pos += size
            yield chunks


def _pipeline(n_events: int) -> dict[str, float]:
    decoder = SSEDecoder()
    condenser = TurnCondenser(start=0.0)
    frames = events = notes = 0
    n_bytes = 0
    busy = 0.0
    now = 0.0
    max_buffered = 0
    for batch in generate(n_events):
        started = time.perf_counter()
        for chunk in batch:
            n_bytes += len(chunk)
            for frame in decoder.feed(chunk):
                frames += 1
                now += 0.001
                for event in parse_frame(frame):
                    events += 1
                    notes += len(condenser.feed(event, now))
            max_buffered = max(max_buffered, decoder.buffered_bytes)
        busy += time.perf_counter() - started
    started = time.perf_counter()
    for frame in decoder.close():
        frames += 1
        for event in parse_frame(frame):
            events += 1
            condenser.feed(event, now)
    summary = condenser.result()
    busy += time.perf_counter() - started
    return {
        "frames": float(frames),
        "events": float(events),
        "bytes": float(n_bytes),
        "seconds": busy,
        "frames_per_s": frames / busy if busy else 0.0,
        "events_per_s": events / busy if busy else 0.0,
        "mb_per_s": n_bytes / busy / 1e6 if busy else 0.0,
        "progress_notes": float(notes),
        "reply_chars": float(len(summary.reply_text)),
        "steps": float(len(summary.steps)),
        "max_decoder_buffer_bytes": float(max_buffered),
    }


def run(n_events: int = 1_000_000, *, memory: bool = True) -> dict[str, float]:
    """Time the pipeline over ``n_events`` frames; with ``memory``, a second traced pass."""
    gc.collect()
    result = _pipeline(n_events)
    if memory:
        gc.collect()
        tracemalloc.start()
        try:
            _pipeline(n_events)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        result["peak_mb"] = peak / 1e6
        result["batch_mb"] = BATCH_BYTES * 2 / 1e6  # generator-side share of that peak (approx)
    return result


def main(argv: list[str]) -> int:
    n = int(argv[0].replace("_", "").replace(",", "")) if argv else 1_000_000
    result = run(n)
    rows = [
        ("frames", f"{result['frames']:,.0f}"),
        ("events (parsed)", f"{result['events']:,.0f}"),
        ("stream size", f"{result['bytes'] / 1e6:,.1f} MB"),
        ("pipeline time", f"{result['seconds']:,.2f} s"),
        ("frames / s", f"{result['frames_per_s']:,.0f}"),
        ("events / s", f"{result['events_per_s']:,.0f}"),
        ("throughput", f"{result['mb_per_s']:,.1f} MB/s"),
        ("peak memory (tracemalloc)", f"{result.get('peak_mb', 0.0):,.2f} MB"),
        ("  of which generator batch", f"~{result.get('batch_mb', 0.0):,.2f} MB"),
        ("max decoder buffer", f"{result['max_decoder_buffer_bytes'] / 1e3:,.1f} kB"),
        ("progress notes", f"{result['progress_notes']:,.0f}"),
        ("reply chars (capped)", f"{result['reply_chars']:,.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"condense pipeline, {n:,} frames")
    for key, value in rows:
        print(f"  {key:<{width}}  {value:>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def _json_floor(n_events: int) -> dict[str, float]:
    """The least any parser must do with the same stream: split frames, ``json.loads`` each."""
    frames = decoded = 0
    busy = 0.0
    tail = b""
    for batch in generate(n_events):
        started = time.perf_counter()
        for chunk in batch:
            data = tail + chunk
            blocks = data.split(b"\n\n")
            tail = blocks.pop()
            for block in blocks:
                frames += 1
                if block.startswith(b"data: "):
                    try:
                        json.loads(block[6:])
                        decoded += 1
                    except ValueError:
                        pass
        busy += time.perf_counter() - started
    return {"frames": float(frames), "seconds": busy, "decoded": float(decoded)}


GOAL = 2.0  # the pipeline at most this many times slower than the floor


def rows(n_events: int = 1_000_000, rounds: int = 3) -> list[Row]:
    """The README rows: the pipeline next to the JSON floor measured on the same stream, in
    interleaved rounds (floor, pipeline, floor, pipeline...; the order alternates); the ratio
    is of the median rates, the range that of the per-round ratios."""
    floors: list[dict[str, float]] = []
    pipes: list[dict[str, float]] = []
    for n in range(rounds):
        order = (_json_floor, _pipeline) if n % 2 == 0 else (_pipeline, _json_floor)
        for step in order:
            gc.collect()
            (floors if step is _json_floor else pipes).append(step(n_events))
    result = run(min(n_events, 200_000), memory=True)  # memory: a traced pass, not timed
    pipe_rates = [p["frames"] / p["seconds"] for p in pipes]
    floor_rates = [f["frames"] / f["seconds"] for f in floors]
    ratios = [f / p for f, p in zip(floor_rates, pipe_rates, strict=True)]
    pipe_rate, floor_rate = median(pipe_rates), median(floor_rates)
    return [
        Row(
            "Chat condensing: SSE bytes to turn summary",
            f"nemo-mcp condense pipeline, {n_events:,} events",
            f"{pipe_rate:,.0f} events/s",
            baseline=f"split + json.loads only {floor_rate:,.0f} events/s",
            ratio=floor_rate / pipe_rate,
            notes=f"{pipes[0]['bytes'] / 1e6:,.0f} MB stream; {rounds} interleaved rounds, "
            f"ratio range {min(ratios):.2f}x-{max(ratios):.2f}x; peak traced memory "
            f"{result.get('peak_mb', 0.0):,.1f} MB (of which ~{result.get('batch_mb', 0.0):,.1f}"
            f" MB the generator's batch); max decoder buffer "
            f"{pipes[0]['max_decoder_buffer_bytes'] / 1e3:,.0f} kB",
            data={"pipeline": pipes, "json_floor": floors, "memory": result},
            goal=GOAL,
        )
    ]
