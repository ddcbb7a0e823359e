"""``python -m benchmarks._transfer_child upload|download ...``: one transfer by nemo-mcp's client
in a fresh process, reporting its time and how much the process's peak RSS grew during it.

    upload   API_URL HOME FILE        -> {"seconds", "rss_before_kb", "rss_peak_kb", "cdn_url"}
    download URL DEST                 -> {"seconds", "rss_before_kb", "rss_peak_kb", "bytes"}

The peak RSS comes from ``getrusage(RUSAGE_SELF).ru_maxrss`` (kilobytes on Linux), read before
and after the transfer; everything else (imports, the token, the session) happens before.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings

FSYNC_SECONDS = [0.0]


_FSYNC = os.fsync


def _timed_fsync(fd: FileDescriptorLike) -> None:
    started = time.perf_counter()
    _FSYNC(fd)
    FSYNC_SECONDS[0] += time.perf_counter() - started


def _peak_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


async def upload(api_url: str, home: str, file: str) -> dict[str, object]:
    settings = Settings(api_url=api_url, home=Path(home), output_dir=Path(home))
    async with NemoClient(settings) as client:
        session = await client.create_session()
        before = _peak_kb()
        started = time.perf_counter()
        result = await client.upload_files(session.session_id, [Path(file)])
        seconds = time.perf_counter() - started
        peak = _peak_kb()
    return {
        "seconds": seconds,
        "rss_before_kb": before,
        "rss_peak_kb": peak,
        "cdn_url": result.files[0].cdn_url,
    }


async def download(url: str, dest: str) -> dict[str, object]:
    settings = Settings(api_url="http://127.0.0.1:9", home=Path(dest).parent / ".home")
    async with NemoClient(settings) as client:
        before = _peak_kb()
        started = time.perf_counter()
        result = await client.download(url, Path(dest), overwrite=True)
        seconds = time.perf_counter() - started
        peak = _peak_kb()
    return {
        "seconds": seconds,
        "rss_before_kb": before,
        "rss_peak_kb": peak,
        "bytes": result.size,
        "fsync_seconds": FSYNC_SECONDS[0],
    }


def main(argv: list[str]) -> int:
    verb, *args = argv
    os.fsync = _timed_fsync  # how much of a download is waiting for the disk
    if verb == "upload":
        out = anyio.run(upload, args[0], args[1], args[2])
    else:
        out = anyio.run(download, args[0], args[1])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
