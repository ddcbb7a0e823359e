"""Downloads: atomic placement, Range resume, ignored ranges, size checks, no overwrite, no token
leaving the API host."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import AsyncIterator, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import respx
from nemo_client_helpers import API, CDN, SENTINEL, Sleeps

from nemo_mcp import constants
from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.errors import DestinationExistsError, DownloadError, InvalidInputError
from nemo_mcp.files.outputs import choose_output_path
from nemo_mcp.store.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

DATA = random.Random(7).randbytes(3 * 1024 * 1024 + 12345)
URL = f"{CDN}/render-result/render_1.mp4?X-Amz-Signature=SIGNED0SECRET"
PIECE = 256 * 1024


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


class FakeCDN:
    """A download host: drops the first answer after ``drop_at`` bytes, honours Range or not."""

    def __init__(
        self,
        *,
        drop_at: int | None = None,
        drops: int = 1,
        honour_range: bool = True,
        data: bytes = DATA,
        announce: int | None = None,
        clean_short_body: bool = False,
    ) -> None:
        self.drop_at = drop_at
        self.drops = drops
        self.honour_range = honour_range
        self.data = data
        self.announce = announce
        self.clean_short_body = clean_short_body
        self.ranges: list[str | None] = []
        self.auth: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        rng = request.headers.get("range")
        self.ranges.append(rng)
        self.auth.append(request.headers.get("authorization"))
        assert request.headers.get("accept-encoding") == "identity"
        start = int(rng.split("=")[1].rstrip("-")) if rng and self.honour_range else 0
        body = self.data[start:]
        drop = self.drop_at is not None and len(self.ranges) <= self.drops
        drop_at = self.drop_at or 0
        clean_short = self.clean_short_body

        async def stream() -> AsyncIterator[bytes]:
            if drop:
                for i in range(0, drop_at, PIECE):
                    yield body[i : min(i + PIECE, drop_at)]
                if clean_short:
                    return
                raise httpx.ReadError("connection reset")
            for i in range(0, len(body), PIECE):
                yield body[i : i + PIECE]

        total = self.announce if self.announce is not None else len(self.data)
        headers = {"content-length": str(total - start), "content-type": "video/mp4"}
        if start:
            headers["content-range"] = f"bytes {start}-{len(self.data) - 1}/{total}"
            return httpx.Response(206, headers=headers, content=stream())
        return httpx.Response(200, headers=headers, content=stream())


def _route(api: respx.MockRouter, cdn: Callable[[httpx.Request], httpx.Response]) -> respx.Route:
    return api.get(scheme="https", host="cdn.nemo.test", path__startswith="/render-result/").mock(
        side_effect=cdn
    )


async def test_plain_download_is_atomic_and_tokenless(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path, no_leaks: pytest.LogCaptureFixture
) -> None:
    cdn = FakeCDN()
    _route(api, cdn)
    dest = tmp_path / "out" / "video.mp4"
    seen: list[tuple[int, int]] = []

    def on_progress(done: int, total: int) -> None:
        assert not dest.exists()  # never visible half-written
        assert len(_leftovers(dest.parent)) == 1
        seen.append((done, total))

    result = await client.download(URL, dest, on_progress=on_progress)
    assert dest.read_bytes() == DATA
    assert (result.path, result.size, result.resumed) == (dest, len(DATA), 0)
    assert seen[-1] == (len(DATA), len(DATA))
    assert cdn.auth == [None]  # no bearer token for a download host
    assert _leftovers(dest.parent) == []
    for record in no_leaks.records:  # httpx's own INFO line is silenced by setup_logging
        if record.name.startswith("nemo_mcp"):
            assert "SIGNED0SECRET" not in record.getMessage()


async def test_resume_after_a_drop_mid_body(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    cdn = FakeCDN(drop_at=PIECE * 5)
    _route(api, cdn)
    dest = tmp_path / "v.mp4"
    result = await client.download(URL, dest)
    assert dest.read_bytes() == DATA
    assert result.resumed == 1
    assert cdn.ranges == [None, f"bytes={PIECE * 5}-"]
    assert _leftovers(tmp_path) == []


async def test_range_ignored_restarts_from_zero(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    cdn = FakeCDN(drop_at=PIECE * 3, honour_range=False)
    _route(api, cdn)
    dest = tmp_path / "v.mp4"
    await client.download(URL, dest)
    assert dest.read_bytes() == DATA  # truncated and rewritten, not appended
    assert cdn.ranges == [None, f"bytes={PIECE * 3}-"]


async def test_clean_but_short_body_is_resumed(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    cdn = FakeCDN(drop_at=PIECE * 2, clean_short_body=True)
    _route(api, cdn)
    dest = tmp_path / "v.mp4"
    result = await client.download(URL, dest)
    assert dest.read_bytes() == DATA and result.resumed == 1


async def test_too_many_drops_fail_and_leave_nothing(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    cdn = FakeCDN(drop_at=0, drops=100)
    _route(api, cdn)
    dest = tmp_path / "v.mp4"
    with pytest.raises(DownloadError) as info:
        await client.download(URL, dest)
    assert len(cdn.ranges) == constants.DOWNLOAD_MAX_RESUMES + 1
    assert not dest.exists() and _leftovers(tmp_path) == []
    assert "SIGNED0SECRET" not in str(info.value)


async def test_budget_resets_whenever_bytes_arrive(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    drops = constants.DOWNLOAD_MAX_RESUMES + 3  # more drops than the budget, each one progressing
    data = DATA[: PIECE * (drops + 2)]

    class Progressing(FakeCDN):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            self.drop_at = PIECE  # every answer delivers one piece more before dropping
            return super().__call__(request)

    cdn = Progressing(drop_at=PIECE, drops=drops, data=data)
    _route(api, cdn)
    result = await client.download(URL, tmp_path / "v.mp4")
    assert result.resumed == drops
    assert (tmp_path / "v.mp4").read_bytes() == data


async def test_announced_size_mismatch_leaves_no_file(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    _route(api, FakeCDN())
    dest = tmp_path / "v.mp4"
    with pytest.raises(DownloadError, match="expected"):
        await client.download(URL, dest, expected_size=len(DATA) + 1)
    assert not dest.exists() and _leftovers(tmp_path) == []


async def test_body_longer_than_announced_is_an_error(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    _route(api, FakeCDN(announce=len(DATA) - 10))
    dest = tmp_path / "v.mp4"
    with pytest.raises(DownloadError):
        await client.download(URL, dest)
    assert not dest.exists() and _leftovers(tmp_path) == []


async def test_existing_file_is_never_overwritten_silently(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    route = _route(api, FakeCDN())
    dest = tmp_path / "v.mp4"
    dest.write_bytes(b"precious")
    with pytest.raises(DestinationExistsError):
        await client.download(URL, dest)
    assert dest.read_bytes() == b"precious"
    assert route.call_count == 0
    assert choose_output_path(tmp_path, dest.name) == tmp_path / "v (2).mp4"
    await client.download(URL, dest, overwrite=True)
    assert dest.read_bytes() == DATA


async def test_file_appearing_during_download_is_kept(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    _route(api, FakeCDN())
    dest = tmp_path / "v.mp4"

    def on_progress(done: int, total: int) -> None:
        if not dest.exists():
            dest.write_bytes(b"someone else's")

    with pytest.raises(DestinationExistsError):
        await client.download(URL, dest, on_progress=on_progress)
    assert dest.read_bytes() == b"someone else's"
    assert _leftovers(tmp_path) == []


async def test_download_from_api_host_carries_token_only_there(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    api.get("/api/render/proxy/r1/download").respond(
        302, headers={"location": f"{CDN}/render-result/r1.mp4?sig=abc"}
    )
    cdn = FakeCDN()
    _route(api, cdn)
    dest = tmp_path / "r1.mp4"
    await client.download(f"{API}/api/render/proxy/r1/download", dest)
    assert dest.read_bytes() == DATA
    # the API hop got the token and the attribution headers, the CDN hop neither
    api_call = next(c for c in api.calls if c.request.url.path.endswith("/r1/download"))
    assert api_call.request.headers["authorization"] == f"Bearer {SENTINEL}"
    assert api_call.request.headers["x-skill-platform"] == "testplatform"
    assert cdn.auth == [None]
    cdn_call = next(c for c in api.calls if c.request.url.host == "cdn.nemo.test")
    assert "x-skill-source" not in cdn_call.request.headers


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "http://cdn.nemo.test/downgrade.mp4", "ftp://x/y"]
)
async def test_unsafe_redirects_are_refused(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path, location: str
) -> None:
    api.get(URL).respond(302, headers={"location": location})
    with pytest.raises(DownloadError, match="unsafe"):
        await client.download(URL, tmp_path / "v.mp4")
    assert _leftovers(tmp_path) == []


async def test_redirect_loop_is_cut(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    route = api.get(URL).respond(302, headers={"location": URL})
    with pytest.raises(DownloadError, match="too many"):
        await client.download(URL, tmp_path / "v.mp4")
    assert route.call_count == constants.MAX_REDIRECTS + 1


async def test_only_http_urls(client: NemoClient, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        await client.download("file:///etc/passwd", tmp_path / "v.mp4")


async def test_expired_link_says_so(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    api.get(URL).respond(403, text="<Error>AccessDenied</Error>")
    with pytest.raises(DownloadError) as info:
        await client.download(URL, tmp_path / "v.mp4")
    assert "expired" in str(info.value)
    assert info.value.status == 403
    assert "SIGNED0SECRET" not in str(info.value)


async def test_server_errors_are_retried(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    cdn = FakeCDN()
    answers = iter([httpx.Response(503), httpx.Response(500)])

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or cdn(request)

    api.get(URL).mock(side_effect=flaky)
    dest = tmp_path / "v.mp4"
    result = await client.download(URL, dest)
    assert dest.read_bytes() == DATA and result.resumed == 0


async def test_new_file_gets_normal_permissions(
    client: NemoClient, api: respx.MockRouter, tmp_path: Path
) -> None:
    if os.name == "nt":
        pytest.skip("POSIX permissions")
    _route(api, FakeCDN(data=b"tiny"))
    dest = tmp_path / "v.mp4"
    await client.download(URL, dest)
    mask = os.umask(0)
    os.umask(mask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~mask


class _DroppingHandler(BaseHTTPRequestHandler):
    """Serves DATA; the first plain GET is cut off halfway by closing the socket."""

    protocol_version = "HTTP/1.1"
    ranges: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        if rng is None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA[: len(DATA) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        start = int(rng.split("=")[1].rstrip("-"))
        self.send_response(206)
        self.send_header("Content-Length", str(len(DATA) - start))
        self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
        self.end_headers()
        self.wfile.write(DATA[start:])

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
async def test_resume_over_a_real_socket(
    settings: Settings, store: SQLiteStore, tmp_path: Path
) -> None:
    _DroppingHandler.ranges = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DroppingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/render.mp4?sig=abc"
        dest = tmp_path / "real.mp4"
        # a loopback download host is allowed only because the API is on loopback too
        local = settings.with_(api_url="http://127.0.0.1:9")
        async with NemoClient(local, store=store, sleep=Sleeps()) as c:
            result = await c.download(url, dest)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert dest.read_bytes() == DATA
    assert result.resumed == 1
    assert _DroppingHandler.ranges[0] is None
    assert _DroppingHandler.ranges[1] is not None
    assert int(_DroppingHandler.ranges[1].split("=")[1].rstrip("-")) > 0
