"""Hostile input: paths that try to leave the allowed folders, files that lie about their type,
oversized uploads, odd Unicode, huge or malformed stream events, and an API answering garbage.

Every case ends in a success or an actionable error (never a crash or a traceback), and nothing
is sent that should not be: the emulator counts the uploads.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_helpers import SENTINEL_TOKEN, Ledger, Rig, accepted_messages, partial_files

from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.errors import NemoError
from nemo_mcp.manifest import load_manifest
from nemo_mcp.store.sqlite import SQLiteStore
from nemo_mcp.studio.facade import Studio
from nemo_mcp.studio.settle import TurnOutcome
from nemo_mcp.studio.turns import TurnLimits, run_turn
from support.emulator import MUSIC_VIDEO, requests_to
from support.results import assert_actionable

pytestmark = pytest.mark.anyio

POSIX = os.name != "nt"


# ----------------------------------------------------------------------------------- paths
def hostile_paths(rig: Rig, outside: Path) -> list[str]:
    """Paths that name something outside the allowed folder (or nothing sane at all)."""
    media = rig.media_dir
    sibling = media.parent / (media.name + "_evil")
    sibling.mkdir(exist_ok=True)
    shutil.copyfile(rig.song, sibling / "song.mp3")
    paths = [
        str(media / ".." / "outside" / "song.mp3"),
        "../outside/song.mp3",
        "../../../../../../etc/passwd",
        "/etc/passwd",
        str(outside / "song.mp3"),
        str(sibling / "song.mp3"),  # a prefix sibling: /media_evil is not inside /media
        (outside / "song.mp3").as_uri(),
        "file:///etc/passwd",
        "~/../../etc/passwd",
        str(media / "a\x00.mp3"),
        "file://" + str(media) + "/a%00.mp3",  # a NUL smuggled through percent-encoding
        str(media / ("x" * 300 + ".mp3")),  # longer than any file system allows
        str(media) + "/" + "/".join(["d" * 200] * 30) + "/deep.mp3",
        "",
        "   ",
        "\u202etxt.mp3",
    ]
    if POSIX:
        (media / "link-out.mp3").symlink_to(outside / "song.mp3")
        (media / "dangling.mp3").symlink_to(outside / "missing.mp3")
        (media / "dir-link").symlink_to(outside, target_is_directory=True)
        (media / "loop.mp3").symlink_to(media / "loop.mp3")
        (media / "loop-a.mp3").symlink_to(media / "loop-b.mp3")
        (media / "loop-b.mp3").symlink_to(media / "loop-a.mp3")
        paths += [
            str(media / "link-out.mp3"),
            "link-out.mp3",
            str(media / "dangling.mp3"),
            str(media / "dir-link" / "song.mp3"),
            str(media / "loop.mp3"),
            str(media / "loop-a.mp3"),
        ]
    return paths


async def test_paths_outside_the_allowed_folders_are_refused(rig: Rig, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(rig.song, outside / "song.mp3")
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        for raw in hostile_paths(rig, outside):
            res = await tools.call("nemo_upload", {"items": [raw]})
            assert res.is_error, (raw, res.text)
            assert_actionable(res, "unsafe_path", "invalid_input")
            if raw.strip():  # (blank items next to real ones are skipped)
                # one bad item fails the whole call before anything is sent
                res = await tools.call("nemo_upload", {"items": [str(rig.song), raw]})
                assert_actionable(res, "unsafe_path", "invalid_input")
        assert requests_to(emu, "upload") == 0
        assert requests_to(emu, "session") == 0
        ok = await tools.ok("nemo_upload", {"items": ["my-song.mp3"]})  # relative, inside
        assert ok.data["uploaded"][0]["name"] == "my-song.mp3"
    assert requests_to(emu, "upload") == 1


async def test_files_that_lie_about_their_type_are_refused(rig: Rig) -> None:
    media = rig.media_dir
    (media / "notes.mp4").write_text("this is not a video\n" * 100)
    (media / "empty.mp3").write_bytes(b"")
    shutil.copyfile(rig.photo, media / "photo-as-video.mp4")  # a real JPEG named .mp4
    shutil.copyfile(rig.clip, media / "clip-as-song.mp3")  # a real MP4 named .mp3
    (media / "script.sh.mp4").write_bytes(b"#!/bin/sh\nrm -rf ~\n")
    (media / "elf.mov").write_bytes(b"\x7fELF" + b"\x00" * 60)
    (media / "archive.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    (media / "folder.mp4").mkdir()
    if POSIX:
        os.mkfifo(media / "pipe.mp3")
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        for item in sorted(media.iterdir()):
            if item.name in (rig.song.name, rig.photo.name, rig.clip.name):
                continue
            res = await tools.call("nemo_upload", {"items": [str(item)]})
            assert res.is_error, (item.name, res.text)
            assert_actionable(res, "unsafe_path", "invalid_input", "unsupported_file")
    assert requests_to(emu, "upload") == 0


async def test_oversized_uploads_are_refused_before_sending(rig: Rig) -> None:
    limit = load_manifest("nemo-mcp").max_upload_bytes
    big = rig.media_dir / "huge.mp4"
    with big.open("wb") as f:  # sparse: a real MP4 header, then a hole past the limit
        f.write(rig.clip.read_bytes()[:64])
        f.truncate(limit + 1)
    emu = rig.emulator(upload_limit_mb=1)
    async with rig.tools(emu) as tools:
        res = await tools.fail("nemo_upload", {"items": [str(big)]})
        err = assert_actionable(res, "file_too_large")
        assert "is 500.00 MB; the limit is 500 MB" in err["message"], err
        assert "compress" in err["hint"].lower() or "trim" in err["hint"].lower()
        assert requests_to(emu, "upload") == 0
        # the server's own (smaller) limit: refused by NemoVideo, still actionable
        medium = rig.media_dir / "medium.mp4"
        with medium.open("wb") as f:
            f.write(rig.clip.read_bytes())
            f.truncate(2 * 1024 * 1024)
        res = await tools.fail("nemo_upload", {"items": [str(medium)]})
        assert_actionable(res, "file_too_large")
        assert requests_to(emu, "upload") == 1
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})  # the session still works


# --------------------------------------------------------------------------------- unicode
ODD_NAMES = [
    "שיר-עברי.mp3",  # right to left
    "أغنية‮3pm.mp3",  # Arabic with a right-to-left override
    "🎵🎶 song 👩‍👩‍👧.mp3",  # emoji, a ZWJ sequence
    "Zalgo z̷̢̛a̶̡͝l̸̨̛g̵̡͘o̴̢͝.mp3",  # combining marks
    "cafe\u0301 e\u0301te\u0301.mp3",  # decomposed accents (NFD)
    "新年快乐-歌.mp3",
    "spaces  and\ttab.mp3",
    "semi;colon&amp'quote\".mp3",
    "l" * 200 + ".mp3",  # long, but within a file name's limit
]
ODD_MESSAGES = [
    "make a music video synced to my song ‏עם כותרת‏",
    "make a music video synced to my song ‮ reversed ‬ title",
    "make a music video synced to my song 🎬🔥👩‍🚀",
    "make a music video synced to my song z̷̢̛a̶̡͝l̸̨̛g̵̡͘o̴̢͝",
    "make a music video synced to my song \x00 with a NUL",
    "make a music video synced to my song \x1b[31mred\x1b[0m",
    "make a music video synced to my song " + "长" * 3900,
]


@pytest.mark.slow
async def test_odd_unicode_file_names_upload_and_export(rig: Rig) -> None:
    emu = rig.emulator()
    for name in ODD_NAMES:
        shutil.copyfile(rig.song, rig.media_dir / name)
    async with rig.tools(emu) as tools:
        res = await tools.ok("nemo_upload", {"items": [str(rig.media_dir / n) for n in ODD_NAMES]})
        assert len(res.data["uploaded"]) == len(ODD_NAMES)
        await tools.ok("nemo_chat", {"message": MUSIC_VIDEO, "wait_seconds": 30})
        for n, name in enumerate(["../../escape", "/abs/path", "CON", "‮evil", "a/b\\c", "🎬"]):
            res = await tools.ok(
                "nemo_export", {"filename": name, "wait_seconds": 60, "force": n > 0}
            )
            file = Path(res.data["file"])
            assert file.parent == rig.out, file
            assert file.suffix == ".mp4"
    assert len(list(rig.out.glob("*.mp4"))) == 6
    assert partial_files(rig.out) == []


@pytest.mark.slow
async def test_odd_unicode_messages(rig: Rig) -> None:
    emu = rig.emulator()
    async with rig.tools(emu) as tools:
        await tools.ok("nemo_upload", {"items": [str(rig.song)]})
        for message in ODD_MESSAGES:
            await tools.ok("nemo_new_session", {})
            await tools.ok("nemo_upload", {"items": [str(rig.song)]})
            turn = await tools.ok("nemo_chat", {"message": message, "wait_seconds": 30})
            assert turn.data["status"] == "replied", turn.text
            assert "\x1b" not in turn.text and "\x00" not in turn.text
        too_long = await tools.call("nemo_chat", {"message": "x" * 4001})
        assert too_long.is_error
    assert len(accepted_messages(emu)) == len(ODD_MESSAGES)


# ------------------------------------------------------------- huge and malformed streams
def _frame(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


_TEXT = {"content": {"parts": [{"text": "Done: I added the title."}], "role": "model"}}

HOSTILE_STREAMS: dict[str, Callable[[], AsyncIterator[bytes]]] = {}


def stream(name: str) -> Callable[[Callable[[], AsyncIterator[bytes]]], None]:
    def register(fn: Callable[[], AsyncIterator[bytes]]) -> None:
        HOSTILE_STREAMS[name] = fn

    return register


@stream("a 5 MiB line with no newline")
async def _huge_line() -> AsyncIterator[bytes]:
    yield b"data: " + b"A" * (5 * 1024 * 1024)


@stream("a 6 MiB event in 64 KiB lines")
async def _huge_event() -> AsyncIterator[bytes]:
    for _ in range(96):
        yield b"data: " + b"B" * 65536 + b"\n"
    yield b"\n"


@stream("a 2 MiB JSON string")
async def _big_json() -> AsyncIterator[bytes]:
    yield _frame({"content": {"parts": [{"text": "C" * (2 * 1024 * 1024)}], "role": "model"}})


@stream("invalid UTF-8, NULs and control bytes")
async def _bad_bytes() -> AsyncIterator[bytes]:
    yield b'data: \xff\xfe\x00\x01{"content":\n\n'
    yield b'data: {"content": {"parts": [{"text": "\\u0000\\u001b[2J ok"}]}}\n\n'
    yield _frame(_TEXT)


@stream("ten thousand malformed frames")
async def _garbage() -> AsyncIterator[bytes]:
    junk = [b"data: {", b"data: ]]]", b"data: null", b"data: 1e999999", b"event: x", b"id: \x00"]
    for n in range(10_000):
        yield junk[n % len(junk)] + b"\n\n"
    yield _frame(_TEXT)


@stream("deeply nested JSON")
async def _nested() -> AsyncIterator[bytes]:
    yield b"data: " + b"[" * 100_000 + b"]" * 100_000 + b"\n\n"
    yield b"data: " + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n\n"
    yield _frame(_TEXT)


@stream("CR-only line endings and split UTF-8")
async def _cr_only() -> AsyncIterator[bytes]:
    raw = ("data: " + json.dumps({"content": {"parts": [{"text": "é🎬 ok"}]}}) + "\r\r").encode()
    for n in range(len(raw)):
        yield raw[n : n + 1]


@stream("a wrong-typed event zoo")
async def _wrong_types() -> AsyncIterator[bytes]:
    for obj in [
        {"content": "text"},
        {"content": {"parts": "x"}},
        {"content": {"parts": [None, 1, "s", {"text": 5}]}},
        {"actions": {"stateDelta": "draft"}},
        {"errorCode": {"x": 1}},
        {"type": ["text"]},
        {"partial": "yes", "content": {"parts": [{"text": "p"}]}},
        [1, 2, 3],
        "just a string",
    ]:
        yield _frame(obj)
    yield _frame(_TEXT)


@pytest.mark.parametrize("name", sorted(HOSTILE_STREAMS))
async def test_hostile_streams_never_crash_a_turn(name: str) -> None:
    """Pure turn logic with a hostile stream: an outcome, within the size caps, message once."""
    opened = 0

    def open_stream() -> Any:
        nonlocal opened
        opened += 1
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def cm() -> AsyncIterator[AsyncIterator[bytes]]:
            yield HOSTILE_STREAMS[name]()

        return cm()

    async def read_state() -> dict[str, Any]:
        return {"state": {"draft": None}}

    async def no_sleep(_: float) -> None:
        await anyio.lowlevel.checkpoint()

    limits = TurnLimits(recovery_first_wait=0, recovery_next_wait=0, recovery_max_unchanged=1)
    with anyio.fail_after(60):
        outcome = await run_turn(
            open_stream=open_stream,
            read_state=read_state,
            before={"state": {"draft": None}},
            sleep=no_sleep,
            limits=limits,
        )
    assert isinstance(outcome, TurnOutcome)
    assert opened == 1
    assert len(outcome.reply_text) <= 20_000
    assert "\x00" not in outcome.reply_text and "\x1b" not in outcome.reply_text
    assert outcome.status in ("replied", "silent_unchanged", "failed", "awaiting_answer", "lost")


# ------------------------------------------------------------- the API answering garbage
GARBAGE_BODIES = [
    b"",
    b"null",
    b"[]",
    b"[1,2]",
    b'"text"',
    b"42",
    b"{",
    b'{"code":0,"data":',
    b'{"code":0}',
    b'{"code":0,"data":null}',
    b'{"code":0,"data":[]}',
    b'{"code":0,"data":"x"}',
    b'{"code":"SESSION_GONE"}',
    b'{"code":1e400}',
    b'{"code":-1,"message":{"nested":true}}',
    b'{"success":"maybe","data":{}}',
    b'{"data":{"status":{"x":1},"progress":"NaN","output":[1]}}',
    b'{"data":{"available":"lots","files":"none"}}',
    b"<html><body>502 Bad Gateway</body></html>",
    b"\x00\xff\xfe garbage \x89PNG",
    b'{"code":0,"data":{"session_id":null,"task_id":{}}}',
    b'{"code":0,"data":{"files":[null,1,"x",{"filename":5}]}}',
    b'{"code":0,"data":{"claim_token":123}}',
    b'{"status":"completed","output":{"url":"ftp://x/y.mp4"}}',
]
STATUSES = [200, 200, 201, 204, 400, 401, 403, 404, 409, 413, 418, 422, 500, 502, 503]
CONTENT_TYPES = ["application/json", "text/html", "text/event-stream", "", "video/mp4"]


def _call(name: str) -> Callable[[NemoClient, Path], Any]:
    async def session(c: NemoClient, _: Path) -> Any:
        return await c.create_session()

    async def state(c: NemoClient, _: Path) -> Any:
        return await c.get_state("123")

    async def credits(c: NemoClient, _: Path) -> Any:
        return await c.get_credits()

    async def upload(c: NemoClient, tmp: Path) -> Any:
        return await c.upload_files("123", [tmp / "song.mp3"])

    async def upload_urls(c: NemoClient, _: Path) -> Any:
        return await c.upload_urls("123", ["https://example.test/a.mp4"])

    async def submit(c: NemoClient, _: Path) -> Any:
        return await c.submit_render("render_1", "123", {"t": []})

    async def poll(c: NemoClient, _: Path) -> Any:
        return await c.get_render("render_1")

    async def cancel(c: NemoClient, _: Path) -> Any:
        return await c.cancel_render("render_1")

    async def claim(c: NemoClient, _: Path) -> Any:
        return await c.claim_link("t", "123")

    async def download(c: NemoClient, tmp: Path) -> Any:
        dest = tmp / "out" / "video.mp4"
        try:
            return await c.download("http://api.nemo.test/cdn/renders/r.mp4", dest)
        finally:
            dest.unlink(missing_ok=True)
            assert not list(dest.parent.glob("*.part"))

    async def chat(c: NemoClient, _: Path) -> Any:
        async def read_state() -> Any:
            return await c.get_state("123")

        limits = TurnLimits(recovery_first_wait=0, recovery_next_wait=0, recovery_max_unchanged=1)
        return await run_turn(
            open_stream=lambda: c.stream_chat("123", "hello"),
            read_state=read_state,
            before=None,
            sleep=_no_sleep,
            limits=limits,
        )

    return {
        "session": session,
        "state": state,
        "credits": credits,
        "upload": upload,
        "upload_urls": upload_urls,
        "submit": submit,
        "poll": poll,
        "cancel": cancel,
        "claim": claim,
        "download": download,
        "chat": chat,
    }[name]


CALL_NAMES = [
    "session",
    "state",
    "credits",
    "upload",
    "upload_urls",
    "submit",
    "poll",
    "cancel",
    "claim",
    "download",
    "chat",
]


async def _no_sleep(_: float) -> None:
    return None


def _client(tmp: Path, answer: Callable[[httpx.Request], httpx.Response], token: bool) -> Any:
    settings = Settings(
        api_url="http://api.nemo.test",
        web_url="http://web.nemo.test",
        token=SENTINEL_TOKEN if token else None,
        home=tmp / "state",
        output_dir=tmp / "out",
        allowed_dirs=(tmp,),
    )
    return NemoClient(
        settings,
        store=SQLiteStore(tmp / "state"),
        transport=httpx.MockTransport(answer),
        sleep=_no_sleep,
    )


class _Body(httpx.AsyncByteStream):
    """A response body that arrives over the "network" (not pre-read like ``content=``)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.body:
            yield self.body


class Sink:
    """Errors seen by the fuzz test, handed to the ledger afterwards (short repr for reports)."""

    def __init__(self) -> None:
        self.errors: list[NemoError] = []

    def keep_error(self, err: NemoError) -> None:
        self.errors.append(err)

    def __repr__(self) -> str:
        return f"Sink({len(self.errors)} errors)"


@pytest.fixture(scope="module")
def fuzz_errors(ledger: Ledger) -> Iterator[Sink]:
    sink = Sink()
    yield sink
    for err in sink.errors:
        ledger.keep_error(err)


def _check_error(err: NemoError, ledger: Ledger | Sink) -> None:
    ledger.keep_error(err)
    text = str(err)
    assert err.message.strip()
    assert err.hint.strip(), f"{type(err).__name__} without a next step: {text}"
    assert "Traceback" not in text
    assert SENTINEL_TOKEN not in text


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory, media_cache: Any) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copyfile(media_cache.song, root / "song.mp3")
    return root


@pytest.mark.slow
@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    call=st.sampled_from(CALL_NAMES),
    status=st.sampled_from(STATUSES),
    body=st.sampled_from(GARBAGE_BODIES)
    | st.binary(max_size=64)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    ["code", "data", "success", "message", "status", "output", "files", "error"]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=10,
    ).map(lambda v: json.dumps(v, allow_nan=True).encode()),
    content_type=st.sampled_from(CONTENT_TYPES),
    token=st.booleans(),
    length=st.booleans(),
)
def test_every_call_survives_any_answer(
    fuzz_dir: Path,
    fuzz_errors: Sink,
    call: str,
    status: int,
    body: bytes,
    content_type: str,
    token: bool,
    length: bool,
) -> None:
    """Whatever any endpoint answers (the token endpoint included): a typed value or a NemoError
    with a next step, never another exception."""

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": content_type} if content_type else {}
        if length:
            headers["content-length"] = str(len(body))
        return httpx.Response(status, stream=_Body(body), headers=headers)

    async def main() -> None:
        async with _client(fuzz_dir, answer, token) as client:
            try:
                with anyio.fail_after(30):
                    await _call(call)(client, fuzz_dir)
            except NemoError as err:
                _check_error(err, fuzz_errors)

    anyio.run(main)


async def test_the_studio_survives_an_api_answering_html(rig: Rig, ledger: Ledger) -> None:
    """A captive portal or proxy page instead of the API: every operation says what to do."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>Please log in to the Wi-Fi</html>")

    settings = Settings(
        api_url="http://api.nemo.test",
        web_url="http://web.nemo.test",
        home=rig.home,
        output_dir=rig.out,
        allowed_dirs=(rig.media_dir,),
    )
    async with Studio.open(settings, transport=httpx.MockTransport(answer)) as studio:
        for op in (
            lambda: studio.credits(),
            lambda: studio.upload([str(rig.song)]),
            lambda: studio.state(),
            lambda: studio.chat("hello"),
            lambda: studio.export(),
            lambda: studio.new_session(),
        ):
            with pytest.raises(NemoError) as info:
                await op()
            _check_error(info.value, ledger)


def test_the_leak_scan_finds_a_planted_token() -> None:
    """The session-wide scan is not vacuous: it finds a token wherever it was kept."""
    led = Ledger()
    led.tokens.add(SENTINEL_TOKEN)
    led.keep("nothing here", f"header Authorization: Bearer {SENTINEL_TOKEN}")
    assert len(led.leaks()) == 1
    assert SENTINEL_TOKEN not in led.leaks()[0]
