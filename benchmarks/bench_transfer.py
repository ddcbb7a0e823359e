"""Upload and download of a large file (500 MB by default): nemo-mcp's client versus curl.

The emulator runs in its own process with its upload limit raised above the file size. Each run
(interleaved: ours, curl, ours, curl...) is a fresh process:

- ours: ``benchmarks._transfer_child`` (``NemoClient.upload_files`` / ``NemoClient.download``),
  timed around the transfer only; memory is how much the process's peak RSS grew during it;
- curl: ``curl -F files=@FILE`` to the same endpoint with the same headers, and ``curl -o``
  from the same URL; timed by curl itself (``time_total``); memory is curl's peak RSS.

The file is random bytes (nothing to compress) written once to a temporary folder, so both read
it from the page cache. The download URL is the uploaded file's own CDN URL (Range-capable),
read once unmeasured before each pair of downloads so that both find it in the page cache.
Each run makes two pairs of downloads (in both orders), so the download row has twice the
runs of the upload row.

The emulator keeps what it receives in memory (a folder on ``/dev/shm``) where there is room
for all of it: on the real service the uploaded files live on NemoVideo's servers, not on the
disk the downloads write to, and here the emulator's copies (a file per upload, gigabytes in a
run) wore down the disk that the downloads, ours durably, then had to write to.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import (
    Row,
    anonymous_session,
    attribution,
    clean_env,
    emulator,
    median,
    ms,
    run_child,
    say,
    spread,
)
from nemo_mcp.contract import paths

CHUNK = 8 * 1024 * 1024
DOWNLOAD_GOAL = 1.25  # a download at most this many times curl's time


def _make_file(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left > 0:
            n = min(CHUNK, left)
            f.write(os.urandom(n))
            left -= n


def _settle() -> None:
    """Write back dirty pages first, so one transfer does not pay for the previous one's."""
    if hasattr(os, "sync"):
        os.sync()


def _warm(url: str) -> None:
    """Read the file once through the emulator, unmeasured, so both downloads that follow find
    it in the page cache. This machine's kernel pages out memory it has not touched for a
    while (DAMON), so a file uploaded a few transfers earlier was often read back from the disk
    by whichever download came first: seconds more, and the ranges were wide."""
    with httpx.stream("GET", url, trust_env=False, timeout=120) as r:
        r.raise_for_status()
        for _ in r.iter_raw(1024 * 1024):
            pass


def _fsync_seconds(path: Path) -> float:
    """How long it takes to put ``path`` on the disk (what ours does before it is done)."""
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started


def _ours(args: list[str]) -> dict[str, float]:
    done = run_child([sys.executable, "-m", "benchmarks._transfer_child", *args], env=clean_env())
    if done.returncode != 0:
        raise RuntimeError(f"transfer child failed: {done.stderr.strip()[-300:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["grew_kb"] = max(0, int(out["rss_peak_kb"]) - int(out["rss_before_kb"]))
    out["process_peak_kb"] = done.max_rss_kb
    return out  # type: ignore[no-any-return]


def _curl(args: list[str]) -> dict[str, float]:
    curl = shutil.which("curl")
    assert curl is not None
    done = run_child([curl, "-sS", "-w", "%{time_total} %{http_code}", *args])
    time_total, _, code = done.stdout.strip().rpartition("\n")[-1].partition(" ")
    if done.returncode != 0 or not code.startswith("2"):
        raise RuntimeError(f"curl failed (HTTP {code}): {done.stderr.strip()[-300:]}")
    return {"seconds": float(time_total), "peak_kb": float(done.max_rss_kb)}


def _memory_folder(needed: int) -> Path | None:
    """A folder in memory (``/dev/shm``) with room for ``needed`` bytes and 1 GiB to spare, or
    None (another system, or too little room: the emulator then keeps its files on disk)."""
    shm = Path("/dev/shm")
    try:
        room = shutil.disk_usage(shm).free
    except OSError:
        return None
    return shm if room >= needed + 1024**3 else None


def run(size_mb: int = 500, runs: int = 5) -> list[Row]:
    size = size_mb * 1024 * 1024
    label = f"{size_mb:,} MB"
    curl = shutil.which("curl")
    rows: list[Row] = []
    memory = _memory_folder(2 * runs * size)  # what the emulator keeps: every upload
    with (
        tempfile.TemporaryDirectory(prefix="nemo-bench-transfer-") as raw,
        tempfile.TemporaryDirectory(prefix="nemo-bench-emulator-", dir=memory) as emulator_dir,
        emulator(upload_limit_mb=size_mb + 64, data_dir=emulator_dir) as url,
    ):
        tmp = Path(raw)
        src = tmp / "big-file.mp4"
        say(f"transfer: writing a {label} file...")
        _make_file(src, size)
        token, session = anonymous_session(url) if curl else ("", "")
        ours_up: list[dict[str, float]] = []
        ours_down: list[dict[str, float]] = []
        curl_up: list[dict[str, float]] = []
        curl_down: list[dict[str, float]] = []
        cdn_url = ""
        for n in range(runs):
            headers = [
                f"Authorization: Bearer {token}",
                *(f"{k}: {v}" for k, v in attribution().items()),
            ]
            upload_args = [
                *(arg for h in headers for arg in ("-H", h)),
                "-o",
                os.devnull,
                "-F",
                f"files=@{src}",
                url + paths.fill(paths.UPLOAD, session_id=session),
            ]
            # alternate who goes first, and start each transfer with no dirty pages pending
            order = ("ours", "curl") if n % 2 == 0 else ("curl", "ours")
            for who in order:
                if who == "curl" and not curl:
                    continue
                _settle()
                if who == "ours":
                    up = _ours(["upload", url, str(tmp / f"home{n}"), str(src)])
                    cdn_url = str(up.pop("cdn_url"))
                    ours_up.append(up)
                else:
                    curl_up.append(_curl(upload_args))
            # two pairs of downloads per run (a download varies more than an upload), the
            # second pair in the other order
            for pair in (order, order[::-1]):
                _warm(cdn_url)
                for who in pair:
                    if who == "curl" and not curl:
                        continue
                    _settle()
                    if who == "ours":
                        dest = tmp / "ours.mp4"
                        down = _ours(["download", cdn_url, str(dest)])
                        assert int(down["bytes"]) == size, down
                        ours_down.append(down)
                    else:
                        dest = tmp / "curl.mp4"
                        got = _curl(["-o", str(dest), cdn_url])
                        assert dest.stat().st_size == size
                        got["durable_seconds"] = got["seconds"] + _fsync_seconds(dest)
                        curl_down.append(got)
                    dest.unlink(missing_ok=True)
            say(f"transfer: run {n + 1}/{runs} done")
    for what, ours, theirs, flag in (
        ("Upload", ours_up, curl_up, "curl -F files=@FILE"),
        ("Download", ours_down, curl_down, "curl -o FILE"),
    ):
        value = median([o["seconds"] for o in ours])
        grew = median([o["grew_kb"] for o in ours]) / 1024
        peak = median([o["process_peak_kb"] for o in ours]) / 1024
        rate = size / value / 1_048_576
        if not theirs:
            rows.append(
                Row(
                    f"{what} {label} to/from the emulator",
                    "nemo-mcp client",
                    f"{ms(value)} ({rate:,.0f} MB/s)",
                    baseline="curl not found: not measured",
                    notes=f"RSS grew {grew:,.1f} MB during the transfer (process peak "
                    f"{peak:,.0f} MB)",
                )
            )
            continue
        mine = [o["seconds"] for o in ours]
        curls = [t["seconds"] for t in theirs]
        base = median(curls)
        curl_peak = median([t["peak_kb"] for t in theirs]) / 1024
        rows.append(
            Row(
                f"{what} {label} to/from the emulator",
                "nemo-mcp client",
                f"{ms(value)} ({rate:,.0f} MB/s)",
                baseline=f"{flag} {ms(base)} ({size / base / 1_048_576:,.0f} MB/s)",
                ratio=value / base,
                notes=f"interleaved runs: ours {spread(mine, ms)}, curl {spread(curls, ms)}; "
                f"memory: RSS grew {grew:,.1f} MB during the transfer (Python process peak "
                f"{peak:,.0f} MB in all); curl peak RSS {curl_peak:,.1f} MB"
                + (_durability_note(ours, theirs, value) if what == "Download" else "")
                + (
                    "; the emulator's files in memory"
                    if memory
                    else "; the emulator's files on disk"
                ),
                data={"ours": ours, "curl": theirs},
                goal=DOWNLOAD_GOAL if what == "Download" else None,
            )
        )
    return rows


def _durability_note(
    ours: list[dict[str, float]], theirs: list[dict[str, float]], value: float
) -> str:
    """What our download does that curl's does not, and curl timed with the same durability."""
    durable = median([t["durable_seconds"] for t in theirs])
    return (
        f"; ours also fsyncs the file (median "
        f"{ms(median([o.get('fsync_seconds', 0.0) for o in ours]))} of it) and moves it into "
        f"place atomically; curl followed by an fsync of its file (the same durability) "
        f"{ms(durable)}, ours {value / durable:.2f}x that"
    )
