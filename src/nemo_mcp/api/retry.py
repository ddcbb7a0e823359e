"""When an API request is tried again: one policy, as small pure decisions.

A request that failed in transport (``after_failure``) is tried again, after a backoff, when it
is safe to repeat: it is idempotent (GETs, and requests whose repetition is harmless), or the
failure proves nothing was sent (a connect error, a pool timeout) and the caller allows that. At
most ``MAX_RETRIES`` times. A final failure of a request that was sent and is not idempotent is
*lost*: it may have taken effect, so it is never repeated and the caller says so.

An answer (``after_answer``) is acted on once each: a rejected token (HTTP 401 or code 1001) is
renewed and the request sent again; a rate limit (429) is waited out (``rate_limit_wait``: the
``Retry-After`` it asks for, 30 s when it asks nothing, never more than ``RETRY_AFTER_CAP``);
408/500/502/503/504 to an idempotent request are retried with backoff; a 502/504 gateway answer
to a request whose answer matters (a render submit) counts as lost.

Nothing here sleeps, sends or raises: the request loop (``transport``) and the token request
(``auth``) apply these decisions; ``tests/client/test_client_retry.py`` pins them in a table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal

import httpx

from nemo_mcp import constants
from nemo_mcp.contract import codes
from nemo_mcp.errors import NemoError, RateLimitError

# Failures that prove the request never left: safe to repeat, even a POST.
PRE_SEND: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures that also prove nothing was sent, but that sending again would only repeat.
NEVER_SENT: Final = (*PRE_SEND, httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_GATEWAY_LOST: Final = frozenset({502, 504})

Action = Literal["retry", "reauth", "wait", "lost", "fail"]


@dataclass(frozen=True)
class Policy:
    """What may be repeated for one request."""

    idempotent: bool  # repeating it is harmless
    retry_unsent: bool = True  # repeat it when the failure proves nothing was sent
    wait_rate_limit: bool = True  # wait out one 429 and send it again
    gateway_loses_answer: bool = False  # a 502/504 means its answer was lost (not a refusal)


@dataclass
class Attempts:
    """What one request has used up so far (the loop updates it)."""

    retries: int = 0
    reauthed: bool = False
    rate_waited: bool = False


@dataclass(frozen=True)
class Next:
    action: Action
    delay: float = 0.0


def backoff_delay(retries_taken: int) -> float:
    """``min(cap, base * 2**n) + uniform(0, jitter)`` seconds before the next attempt."""
    base = constants.RETRY_BASE_DELAY * 2.0 ** min(retries_taken, 16)
    return min(constants.RETRY_MAX_DELAY, base) + random.uniform(0, constants.RETRY_JITTER)


def rate_limit_wait(retry_after: float | None) -> float | None:
    """How long to wait out a 429 before the one retry: ``Retry-After`` (30 s when absent or
    zero); None when it asks for more than ``RETRY_AFTER_CAP`` (reported, not slept through)."""
    if retry_after is not None and retry_after > constants.RETRY_AFTER_CAP:
        return None
    return retry_after if retry_after else constants.RATE_LIMIT_RETRY_DELAY


def never_sent(exc: BaseException) -> bool:
    """Did this transport failure prove the request never left?"""
    return isinstance(exc, NEVER_SENT)


def provably_unsent(exc: BaseException) -> bool:
    """A connection that was never made, anywhere in ``exc``'s cause chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PRE_SEND):
            return True
        current = current.__cause__ or current.__context__
    return False


def after_failure(exc: httpx.TransportError, policy: Policy, attempts: Attempts) -> Next:
    """The request got no (complete) answer: retry, or lost (it may have taken effect), or
    fail (it surely did not)."""
    unsent = isinstance(exc, PRE_SEND) and policy.retry_unsent
    if (policy.idempotent or unsent) and attempts.retries < constants.MAX_RETRIES:
        return Next("retry", backoff_delay(attempts.retries))
    if not never_sent(exc) and not policy.idempotent:
        return Next("lost")
    return Next("fail")


def after_answer(
    status: int, err: NemoError, retry_after: float | None, policy: Policy, attempts: Attempts
) -> Next:
    """The answer is an error (``err``, from its status and envelope): what to do about it."""
    if (err.code == codes.TOKEN_INVALID or status == 401) and not attempts.reauthed:
        return Next("reauth")
    if isinstance(err, RateLimitError) and policy.wait_rate_limit and not attempts.rate_waited:
        wait = rate_limit_wait(retry_after)
        if wait is not None:
            return Next("wait", wait)
    if status in _GATEWAY_LOST and not policy.idempotent and policy.gateway_loses_answer:
        return Next("lost")
    if (
        status in constants.RETRYABLE_STATUSES
        and status != 429
        and policy.idempotent
        and attempts.retries < constants.MAX_RETRIES
    ):
        return Next("retry", backoff_delay(attempts.retries))
    return Next("fail")
