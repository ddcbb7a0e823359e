"""Pure wire helpers: envelopes, Retry-After, expiries, URL scrubbing, backoff."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from nemo_mcp import constants
from nemo_mcp.api.answers import parse_retry_after, response_error, safe_url, strip_urls
from nemo_mcp.api.failures import transport_error
from nemo_mcp.api.retry import backoff_delay
from nemo_mcp.contract.envelopes import Envelope, unwrap
from nemo_mcp.contract.values import epoch
from nemo_mcp.errors import (
    APIStatusError,
    APITimeoutError,
    AuthError,
    ServerError,
    SessionNotFoundError,
    TransportError,
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": 0, "data": {"a": 1}}, Envelope(ok=True, payload={"a": 1}, code=0)),
        ({"success": True, "data": [1]}, Envelope(ok=True, payload=[1])),
        ({"taskId": "r", "status": "x"}, Envelope(ok=True, payload={"taskId": "r", "status": "x"})),
        ({"code": 0}, Envelope(ok=True, payload=None, code=0)),
        (
            {"code": 1002, "message": "gone", "data": None},
            Envelope(ok=False, payload=None, code=1002, message="gone"),
        ),
        (
            {"code": "1001", "msg": "bad"},
            Envelope(ok=False, payload=None, code=1001, message="bad"),
        ),
        (
            {"success": False, "error": {"message": "nope"}},
            Envelope(ok=False, payload=None, message="nope"),
        ),
        ({"code": "E_OOPS", "message": "x"}, Envelope(ok=False, payload=None, message="x")),
        ([1, 2], Envelope(ok=True, payload=[1, 2])),
    ],
)
def test_parse_envelope(body: object, expected: Envelope) -> None:
    assert unwrap(body) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "2500", "retry-after": "99"}, 2.5),
        ({"retry-after": email.utils.formatdate(1000.0 + 30, usegmt=True)}, 30.0),
        ({"retry-after": email.utils.formatdate(1000.0 - 30, usegmt=True)}, 0.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=1000.0) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1893553445, 1893553445.0),
        (1893553445000, 1893553445.0),
        ("1893553445", 1893553445.0),
        ("2030-01-02T03:04:05Z", 1893553445.0),
        ("2030-01-02T03:04:05+00:00", 1893553445.0),
        ("2030-01-02T03:04:05", 1893553445.0),
        ("garbage", None),
        (None, None),
        (0, None),
        (True, None),
    ],
)
def test_parse_epoch(value: object, expected: float | None) -> None:
    assert epoch(value) == expected


def test_url_scrubbing() -> None:
    text = "failed https://user:pw@cdn.example.com/a/b.mp4?X-Amz-Signature=abc and http://h:8/x"
    assert strip_urls(text) == "failed <cdn.example.com> and <h:8>"
    assert safe_url("https://cdn.example.com:8443/a/b.mp4?sig=1#f") == (
        "https://cdn.example.com:8443/a/b.mp4"
    )


def test_response_error_mapping() -> None:
    assert isinstance(response_error(200, b'{"code":1001}', "application/json"), AuthError)
    assert isinstance(response_error(200, b'{"code":1002}', None), SessionNotFoundError)
    assert isinstance(response_error(503, b"", None), ServerError)
    err = response_error(418, b"\x00\x01binary", "application/octet-stream")
    assert type(err) is APIStatusError and "non-JSON" in str(err) and "octet-stream" in str(err)


def test_transport_error_mapping() -> None:
    assert isinstance(transport_error(httpx.ReadTimeout("x"), "Doing"), APITimeoutError)
    err = transport_error(httpx.ConnectError("refused https://h.test/p?k=v"), "Doing")
    assert isinstance(err, TransportError) and not isinstance(err, APITimeoutError)
    assert "k=v" not in str(err) and str(err).startswith("Doing:")


def test_backoff_grows_and_is_capped() -> None:
    for n in range(10):
        delay = backoff_delay(n)
        base = min(constants.RETRY_MAX_DELAY, constants.RETRY_BASE_DELAY * 2**n)
        assert base <= delay <= base + constants.RETRY_JITTER
    assert backoff_delay(10_000) <= constants.RETRY_MAX_DELAY + constants.RETRY_JITTER
