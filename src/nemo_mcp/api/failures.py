"""Where transport failures become errors: the one place an ``httpx`` exception is converted.

Each message names the failure type and a URL-free reason (never a token or a signed URL) and
says what to do next. Which advice fits depends on what the failure proves:

- nothing was sent, or the request is safe to repeat: "check the network and try again"
  (``transport_error``);
- it was sent and may have taken effect (an upload, a message): look at the state before
  repeating it (``outcome_unknown``, ``message_lost``);
- the chat stream broke after it started: the agent may still be working, never resend
  (``stream_broken``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import httpx

from nemo_mcp import constants
from nemo_mcp.api.answers import strip_urls
from nemo_mcp.errors import (
    APITimeoutError,
    NemoError,
    OutcomeUnknownError,
    StreamInterruptedError,
    StreamTimeoutError,
    TransportError,
)

_P = ParamSpec("_P")
_T = TypeVar("_T")

_OUTCOME_HINT = (
    "It may have gone through: look at the session's current state (timeline and uploads) "
    "before repeating it."
)
_NEXT_STEP_HINT = (
    "Try again in a minute; if it keeps happening, NemoVideo may be having problems "
    "(`nemo-mcp doctor` checks the connection and NEMO_API_URL)."
)


def transport_error(exc: httpx.HTTPError, action: str) -> NemoError:
    """A request that got no (complete) answer. Raise it ``from exc``."""
    reason = strip_urls(str(exc)).strip().replace("\n", " ")[:200]
    detail = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{action}: NemoVideo did not answer in time ({detail}).")
    return TransportError(f"{action}: the connection failed ({detail}).")


def outcome_unknown(exc: httpx.TransportError, action: str) -> NemoError:
    """A request that was sent (and may have taken effect) but whose answer was lost.

    "Check the network and try again" would be the wrong advice: repeating an upload that did
    arrive adds the file twice. A timeout keeps its class (``APITimeoutError``).
    """
    err = transport_error(exc, action)
    text = f"{err.message} The request was sent, so it may have taken effect."
    if isinstance(err, APITimeoutError):
        return APITimeoutError(text, hint=_OUTCOME_HINT)
    return OutcomeUnknownError(text, hint=_OUTCOME_HINT)


def message_lost(exc: httpx.HTTPError | None) -> NemoError:
    """A chat message was sent but the answer was lost before its stream started."""
    why = type(exc).__name__ if exc is not None else "a gateway error"
    return OutcomeUnknownError(
        f"The message was sent but NemoVideo's answer was lost ({why}); the editing agent may "
        "be working on it."
    )


def stream_broken(exc: httpx.TransportError) -> NemoError:
    """The chat stream broke after it started (the message was accepted: never resend it)."""
    if isinstance(exc, httpx.TimeoutException):
        return StreamTimeoutError(
            "The chat stream went silent for "
            f"{constants.TURN_SOCKET_READ_TIMEOUT:.0f} s and was closed."
        )
    return StreamInterruptedError(f"The chat stream was cut ({type(exc).__name__}).")


def with_next_step(err: NemoError) -> NemoError:
    """Every error leaving the client says what to do next (unexpected answers included)."""
    if not err.hint:
        err.hint = _NEXT_STEP_HINT
    return err


def actionable(fn: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
    """An endpoint whose errors all say what to do next."""

    @functools.wraps(fn)
    async def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await fn(*args, **kwargs)
        except NemoError as err:
            raise with_next_step(err)  # noqa: B904 (the same exception, re-raised)

    return call
