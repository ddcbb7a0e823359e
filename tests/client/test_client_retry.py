"""The retry policy, decision by decision (``nemo_mcp.api.retry``): one table per kind of event."""

from __future__ import annotations

import httpx
import pytest

from nemo_mcp import constants
from nemo_mcp.api import retry
from nemo_mcp.api.retry import Attempts, Policy
from nemo_mcp.errors import (
    APIStatusError,
    AuthError,
    InsufficientCreditsError,
    NemoError,
    RateLimitError,
    ServerError,
)

GET = Policy(idempotent=True)
POST = Policy(idempotent=False)
SUBMIT = Policy(idempotent=False, gateway_loses_answer=True)
CHAT = Policy(idempotent=False, retry_unsent=False, wait_rate_limit=False)
FRESH = Attempts()
USED = Attempts(retries=constants.MAX_RETRIES, reauthed=True, rate_waited=True)

CONNECT = httpx.ConnectError("refused")
POOL = httpx.PoolTimeout("pool")
READ = httpx.ReadTimeout("slow")
DROPPED = httpx.RemoteProtocolError("peer closed")
PROTOCOL = httpx.LocalProtocolError("bad header")


@pytest.mark.parametrize(
    ("exc", "policy", "attempts", "action"),
    [
        (READ, GET, FRESH, "retry"),  # idempotent: try again
        (READ, GET, USED, "fail"),  # ... up to MAX_RETRIES, then it is final (nothing happened)
        (CONNECT, POST, FRESH, "retry"),  # never left: even a POST may go again
        (POOL, POST, FRESH, "retry"),
        (CONNECT, POST, USED, "fail"),
        (READ, POST, FRESH, "lost"),  # sent and not idempotent: it may have taken effect
        (DROPPED, POST, FRESH, "lost"),
        (PROTOCOL, POST, FRESH, "fail"),  # refused before sending: nothing happened
        (CONNECT, CHAT, FRESH, "fail"),  # a chat message is not even resent when unsent
        (DROPPED, CHAT, FRESH, "lost"),
    ],
)
def test_after_a_transport_failure(
    exc: httpx.TransportError, policy: Policy, attempts: Attempts, action: str
) -> None:
    assert retry.after_failure(exc, policy, attempts).action == action


def _status(
    status: int, cls: type[NemoError] = APIStatusError, code: int | None = None
) -> NemoError:
    return cls("x", status=status, code=code)


@pytest.mark.parametrize(
    ("err", "retry_after", "policy", "attempts", "action"),
    [
        (_status(401, AuthError), None, GET, FRESH, "reauth"),  # once
        (_status(200, AuthError, 1001), None, CHAT, FRESH, "reauth"),  # the stream too
        (_status(401, AuthError), None, GET, USED, "fail"),
        (_status(429, RateLimitError), 3.0, GET, FRESH, "wait"),
        (_status(429, RateLimitError), 3.0, POST, FRESH, "wait"),  # a 429 proves it did not run
        (_status(429, RateLimitError), 3600.0, GET, FRESH, "fail"),  # too long: reported
        (_status(429, RateLimitError), 3.0, GET, USED, "fail"),  # one wait only
        (_status(429, RateLimitError), 3.0, CHAT, FRESH, "fail"),  # the stream does not wait
        (_status(429, InsufficientCreditsError, 2001), 3.0, GET, FRESH, "fail"),  # the code wins
        (_status(503, ServerError), None, GET, FRESH, "retry"),
        (_status(503, ServerError), None, GET, USED, "fail"),
        (_status(503, ServerError), None, POST, FRESH, "fail"),  # a POST is not repeated
        (_status(502, ServerError), None, SUBMIT, FRESH, "lost"),  # the submit's answer is lost
        (_status(500, ServerError), None, SUBMIT, FRESH, "fail"),
        (_status(404), None, GET, FRESH, "fail"),
    ],
)
def test_after_an_error_answer(
    err: NemoError, retry_after: float | None, policy: Policy, attempts: Attempts, action: str
) -> None:
    assert retry.after_answer(err.status or 0, err, retry_after, policy, attempts).action == action


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        (None, constants.RATE_LIMIT_RETRY_DELAY),  # none asked: the contract's 30 s
        (0.0, constants.RATE_LIMIT_RETRY_DELAY),
        (12.0, 12.0),
        (constants.RETRY_AFTER_CAP, constants.RETRY_AFTER_CAP),
        (constants.RETRY_AFTER_CAP + 1, None),  # reported, never slept through
    ],
)
def test_rate_limit_wait(retry_after: float | None, wait: float | None) -> None:
    assert retry.rate_limit_wait(retry_after) == wait


def test_backoff_grows_to_its_cap() -> None:
    delays = [retry.backoff_delay(n) for n in range(12)]
    jitter = constants.RETRY_JITTER
    assert all(
        constants.RETRY_BASE_DELAY <= d <= constants.RETRY_MAX_DELAY + jitter for d in delays
    )
    assert retry.backoff_delay(40) <= constants.RETRY_MAX_DELAY + jitter  # no overflow


def test_unsent_is_found_anywhere_in_the_cause_chain() -> None:
    try:
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert retry.provably_unsent(outer)
    assert not retry.provably_unsent(RuntimeError("no cause"))
