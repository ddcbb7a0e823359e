"""Property-based tests (Hypothesis) for the parsers the rest of the suite covers only by example:
envelopes, render-status normalisation, Retry-After and expiry parsing, error construction,
secret redaction, path confinement, output names, path extraction from free text, and the
emulator's fault grammar."""

from __future__ import annotations

import email.utils
import json
import math
import os
import string
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nemo_mcp.api.answers import parse_retry_after, response_error
from nemo_mcp.api.records import parse_render_poll
from nemo_mcp.cli.route import extract_paths, route
from nemo_mcp.contract.envelopes import unwrap
from nemo_mcp.contract.renders import state_of
from nemo_mcp.contract.values import epoch
from nemo_mcp.emulator.faults import Fault
from nemo_mcp.errors import APIError, InvalidInputError, NemoError, UnsafePathError
from nemo_mcp.files.outputs import safe_filename
from nemo_mcp.files.paths import is_within
from nemo_mcp.files.uploads import resolve_in_roots
from nemo_mcp.redact import redact, register_secret

STATES = {"pending", "processing", "completed", "failed", "cancelled"}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "code",
        "success",
        "data",
        "message",
        "msg",
        "error",
        "status",
        "state",
        "progress",
        "output",
        "outputUrl",
        "url",
        "id",
        "taskId",
        "render_id",
        "render",
        "size",
        "duration",
    ]
)
ENVELOPEY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=25,
)


# ------------------------------------------------------------------------------- envelopes
@given(ENVELOPEY)
def test_envelope_of_anything(body: Any) -> None:
    env = unwrap(body)
    if not isinstance(body, dict):
        assert env.ok and env.payload is body
        return
    code = body.get("code")
    if body.get("success") is False:
        assert not env.ok
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        assert not env.ok and env.code == code
    if env.ok and ("code" in body or isinstance(body.get("success"), bool)):
        assert env.payload is body.get("data")
    if env.ok and "code" not in body and not isinstance(body.get("success"), bool):
        assert env.payload is body
    assert env.message is None or (isinstance(env.message, str) and env.message.strip())


@given(st.integers(min_value=-(10**6), max_value=10**6).filter(bool), st.text(max_size=30))
def test_nonzero_codes_are_errors_whatever_their_form(code: int, message: str) -> None:
    for raw in (code, str(code), float(code)):
        env = unwrap({"code": raw, "message": message, "data": {"x": 1}})
        assert not env.ok and env.code == code


# --------------------------------------------------------------------------------- renders
WORDS = {
    "pending": "pending",
    "Queued": "pending",
    "PROCESSING": "processing",
    "in-progress": "processing",
    "in progress": "processing",
    "Completed": "completed",
    "succeeded": "completed",
    "done": "completed",
    "FAILED": "failed",
    "error": "failed",
    "canceled": "cancelled",
    "cancelled": "cancelled",
}


@given(JSON)
def test_any_status_word_maps_to_one_state(raw: Any) -> None:
    assert state_of(raw) in STATES


@pytest.mark.parametrize(("word", "state"), sorted(WORDS.items()))
def test_status_words(word: str, state: str) -> None:
    assert state_of(word) == state
    assert state_of(f"  {word} ") == state


@given(ENVELOPEY, st.text(min_size=1, max_size=20))
def test_render_status_of_anything(payload: Any, fallback: str) -> None:
    try:
        st_ = parse_render_poll(payload, fallback)
    except APIError:
        assert not isinstance(payload, dict)
        return
    assert st_.status in STATES
    assert isinstance(st_.render_id, str) and st_.render_id
    assert st_.progress is None or 0.0 <= st_.progress <= 100.0
    assert st_.url is None or isinstance(st_.url, str)
    assert st_.size is None or isinstance(st_.size, int)


URLS = st.builds(
    lambda host, name: f"https://{host}.test/renders/{name}.mp4",
    st.text(string.ascii_lowercase, min_size=1, max_size=10),
    st.text(string.ascii_letters + string.digits, min_size=1, max_size=12),
)


@given(
    rid=st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=20),
    word=st.sampled_from(sorted(WORDS)),
    url=URLS,
    progress=st.integers(min_value=-50, max_value=500),
    shape=st.sampled_from(["bare", "wrapped", "cli", "nested"]),
)
def test_every_documented_poll_shape(
    rid: str, word: str, url: str, progress: int, shape: str
) -> None:
    if shape == "bare":
        body: dict[str, Any] = {
            "taskId": rid,
            "status": word,
            "progress": progress,
            "output": {"url": url},
        }
    elif shape == "wrapped":
        body = {
            "success": True,
            "data": {"id": rid, "status": word, "progress": progress, "outputUrl": url},
        }
    elif shape == "cli":
        body = {"render_id": rid, "status": word, "output": {"url": url}, "progress": progress}
    else:
        body = {"code": 0, "data": {"render": {"id": rid, "status": word, "outputUrl": url}}}
    payload = unwrap(body).payload
    st_ = parse_render_poll(payload, "fallback")
    assert st_.render_id == rid
    assert st_.status == WORDS[word]
    assert st_.url == url
    if shape != "nested":
        assert st_.progress == min(max(float(progress), 0.0), 100.0)


# ----------------------------------------------------------------------- Retry-After, expiry
@given(st.text(max_size=40), st.one_of(st.none(), st.text(max_size=20)))
@example("Wed, 21 Oct 2015 07:28:00 GMT", None)
@example("1e999", None)
@example("-5", "-1")
@example("nan", "inf")
def test_retry_after_of_anything(value: str, ms: str | None) -> None:
    headers = {"retry-after": value}
    if ms is not None:
        headers["retry-after-ms"] = ms
    try:
        parsed = parse_retry_after(httpx.Headers(headers), now=1_700_000_000.0)
    except (UnicodeEncodeError, httpx.InvalidURL):  # not a header value httpx accepts at all
        return
    assert parsed is None or (math.isfinite(parsed) and parsed >= 0)


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_seconds_and_dates(seconds: int) -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(httpx.Headers({"retry-after": str(seconds)})) == seconds
    date = email.utils.formatdate(now + seconds, usegmt=True)
    got = parse_retry_after(httpx.Headers({"retry-after": date}), now=now)
    assert got is not None and abs(got - seconds) <= 1
    past = email.utils.formatdate(now - seconds - 1, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": past}), now=now) == 0.0
    both = httpx.Headers({"retry-after": "999", "retry-after-ms": str(seconds * 1000)})
    assert parse_retry_after(both) == seconds


@given(JSON)
def test_expiry_of_anything(value: Any) -> None:
    got = epoch(value)
    assert got is None or (math.isfinite(got) and got > 0)


@given(st.integers(min_value=1_000_000_000, max_value=4_000_000_000))  # 2001 .. 2096
def test_expiry_in_seconds_or_milliseconds(seconds: int) -> None:
    assert epoch(seconds) == seconds
    assert epoch(seconds * 1000) == pytest.approx(seconds)
    assert epoch(str(seconds)) == seconds


# ------------------------------------------------------------------ errors built from answers
SECRET = "nmv_usr_PROPERTY0secret0token0value0zz"


@given(
    status=st.integers(min_value=300, max_value=599),
    code=st.one_of(st.none(), st.integers(min_value=-5, max_value=9999)),
    message=st.text(max_size=80),
    extra=st.binary(max_size=40),
    as_json=st.booleans(),
)
def test_errors_from_any_answer_are_safe(
    status: int, code: int | None, message: str, extra: bytes, as_json: bool
) -> None:
    register_secret(SECRET)
    leaky = f"{message} see https://cdn.test/x.mp4?sig={SECRET}&t=1 Bearer {SECRET}"
    if as_json:
        content = json.dumps({"code": code, "message": leaky}).encode()
    else:
        content = leaky.encode() + extra
    err = response_error(status, content, "application/json" if as_json else "text/html")
    assert isinstance(err, NemoError)
    text = str(err) + json.dumps(err.to_dict(), default=str)
    assert SECRET not in text
    assert "sig=" not in text
    assert "\n" not in err.message


@given(st.text(max_size=60), st.text(max_size=60))
def test_redact_removes_a_registered_secret_wherever_it_is(before: str, after: str) -> None:
    register_secret(SECRET)
    assert SECRET not in redact(before + SECRET + after)
    assert SECRET not in redact((before + SECRET) * 3 + after)


# ----------------------------------------------------------------------- path confinement
SEGMENTS = st.sampled_from(["..", ".", "a", "b", "song.mp3", "out", "link", "", "~", "..."])


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("confine")
    root = base / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "song.mp3").write_bytes(b"ID3")
    outside = base / "out"
    outside.mkdir()
    (outside / "song.mp3").write_bytes(b"ID3")
    if os.name != "nt":
        (root / "a" / "link").symlink_to(outside, target_is_directory=True)
        (root / "link").symlink_to(outside / "song.mp3")
    (base / "root_evil").mkdir()
    return base, root


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(
    parts=st.lists(SEGMENTS, max_size=8),
    absolute=st.booleans(),
    uri=st.booleans(),
)
def test_resolved_paths_never_leave_the_root(
    tree: tuple[Path, Path], parts: list[str], absolute: bool, uri: bool
) -> None:
    base, root = tree
    raw = "/".join(parts)
    if absolute:
        raw = str(root) + "/" + raw
    if uri:
        raw = "file://" + (raw if raw.startswith("/") else str(base) + "/" + raw)
    try:
        got = resolve_in_roots(raw, [root], base=base / "root" / "a")
    except (UnsafePathError, InvalidInputError):
        return
    assert is_within(got, root.resolve()), (raw, got)
    assert got == got.resolve()


@given(st.text(max_size=300))
@example("../../etc/passwd")
@example("CON")
@example("a/b\\c.mp4")
@example("\u202eevil.mp4")
@example("...")
@example("\U0002070e" * 80)  # 80 four-byte letters: 320 bytes, more than any name may have
def test_output_names_are_plain(name: str) -> None:
    out = safe_filename(name)
    assert out.endswith(".mp4")
    stem = out[: -len(".mp4")]
    assert stem and len(stem) <= 80
    # room left for " (9999)" and the download's ".xxxxxxxx.part" within 255 bytes
    assert len(out.encode()) + len(" (9999)") + len(".abcdefgh.part") <= 255
    assert not any(c in out for c in "/\\:\x00") and out.isprintable()
    assert stem.upper() not in {"CON", "PRN", "AUX", "NUL"}
    assert not stem.startswith(".")
    assert safe_filename(out) == out


# ------------------------------------------------------------------ paths in free text
NAME_CHARS = string.ascii_letters + string.digits + "_-"


@given(
    folders=st.lists(st.text(NAME_CHARS, min_size=1, max_size=10), max_size=4),
    stem=st.text(NAME_CHARS, min_size=1, max_size=12),
    ext=st.sampled_from(["mp3", "mp4", "jpg", "png", "wav", "mov", "m4a"]),
    lead=st.sampled_from(["use ", "upload ", "", "please take ", "用这个 "]),
    tail=st.sampled_from(["", " and make a video", ", thanks", "。", " please"]),
    rooted=st.sampled_from(["/", "~/", "./", ""]),
)
def test_a_media_path_in_text_is_found(
    folders: list[str], stem: str, ext: str, lead: str, tail: str, rooted: str
) -> None:
    body = "/".join([*folders, f"{stem}.{ext}"])
    path = rooted + body if (rooted or not folders) else "/" + body
    paths, urls = extract_paths(lead + path + tail)
    assert path in paths, (lead + path + tail, paths)
    assert route(lead + path + tail).intent == "upload"
    assert urls == []


@given(st.text(max_size=200))
def test_extracted_paths_are_media_and_present(text: str) -> None:
    paths, urls = extract_paths(text)
    for p in paths:
        assert p.lower().rsplit(".", 1)[-1] in {
            "mp4",
            "mov",
            "avi",
            "webm",
            "mkv",
            "jpg",
            "jpeg",
            "png",
            "gif",
            "webp",
            "mp3",
            "wav",
            "m4a",
            "aac",
        }
        assert p in text
    for u in urls:
        assert u in text


# ------------------------------------------------------------------ the emulator's faults
@given(st.text(max_size=60))
@example("state:500:times=2")
@example("run_sse:drop=3")
@example("*:503:times=1")
@example("cdn:truncate=-1")
@example("token:reset:reset")
def test_fault_specs_parse_or_say_why(spec: str) -> None:
    try:
        fault = Fault.parse(spec)
    except ValueError as err:
        assert str(err).startswith("fault ")
        return
    assert Fault.from_obj(fault.to_dict()) == fault


@given(
    endpoint=st.sampled_from(["token", "state", "run_sse", "render_poll", "cdn", "*"]),
    action=st.sampled_from(["500", "1002", "reset", "truncate=10", "drop=2", "hang", "fail"]),
    times=st.one_of(st.none(), st.integers(min_value=0, max_value=9)),
    delay=st.one_of(st.none(), st.floats(min_value=0, max_value=5, allow_nan=False)),
)
def test_fault_specs_round_trip(
    endpoint: str, action: str, times: int | None, delay: float | None
) -> None:
    spec = f"{endpoint}:{action}"
    if times is not None:
        spec += f":times={times}"
    if delay is not None:
        spec += f":delay={delay}"
    fault = Fault.parse(spec)
    assert fault.endpoint == endpoint and fault.times == times
    assert fault.delay == (delay or 0.0)
    again = Fault.from_obj(fault.to_dict())
    assert (again.endpoint, again.action, again.status, again.code, again.arg, again.times) == (
        fault.endpoint,
        fault.action,
        fault.status,
        fault.code,
        fault.arg,
        fault.times,
    )
