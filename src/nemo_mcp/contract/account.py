"""Anonymous tokens, sessions, credit balances and browser claim links: requests and answers.

The builders write what NemoVideo documents; the ``*_KEYS`` tuples are every spelling the
client accepts when it reads an answer (the first is the documented one).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

# --- POST /api/auth/anonymous-token (header X-Client-Id) -----------------------------------
TOKEN: Final = "token"
TOKEN_EXPIRES_AT_KEYS: Final = ("expires_at", "expiresAt")  # ISO 8601 or epoch (s or ms)
TOKEN_EXPIRES_IN_KEYS: Final = ("expires_in", "expiresIn")  # seconds from now
USER_ID_KEYS: Final = ("user_id", "userId")
CREDITS: Final = "credits"  # the new token's balance


def token_answer(
    token: str, user_id: str, expires_at: str, credits: int, scopes: list[str]
) -> dict[str, Any]:
    return {
        TOKEN: token,
        USER_ID_KEYS[0]: user_id,
        TOKEN_EXPIRES_AT_KEYS[0]: expires_at,
        CREDITS: credits,
        "scopes": scopes,
    }


# --- POST /api/tasks/me/with-session/nemo_agent --------------------------------------------
TASK_NAME: Final = "task_name"
LANGUAGE: Final = "language"
SESSION_ID_KEYS: Final = ("session_id", "sessionId")
TASK_ID_KEYS: Final = ("task_id", "taskId")


def session_request(task_name: str, language: str) -> dict[str, Any]:
    return {TASK_NAME: task_name, LANGUAGE: language}


def session_answer(task_id: str, session_id: str, user_id: str) -> dict[str, Any]:
    return {TASK_ID_KEYS[0]: task_id, SESSION_ID_KEYS[0]: session_id, USER_ID_KEYS[0]: user_id}


# --- POST /api/auth/claim-token: a short-lived token for a browser link to the project -----
CLAIM_TOKEN: Final = "claim_token"


def claim_request(task_id: str, session_id: str) -> dict[str, Any]:
    return {TASK_ID_KEYS[0]: task_id, SESSION_ID_KEYS[0]: session_id}


def claim_answer(claim_token: str, expires_in: int) -> dict[str, Any]:
    return {CLAIM_TOKEN: claim_token, TOKEN_EXPIRES_IN_KEYS[0]: expires_in}


def claim_link(web_url: str, claim_token: str) -> str:
    """Where the browser link goes: ``$WEB/workspace/claim?ct=<claim token>``."""
    return f"{web_url.rstrip('/')}/workspace/claim?ct={quote(claim_token, safe='')}"


ANONYMOUS_USER_PREFIX: Final = "anon_"  # an anonymous token's user id: anon_<hex>


def registration_link(web_url: str, user_id: str | None) -> str | None:
    """``$WEB/register?bind=<user id>`` for an anonymous user (registering keeps their work);
    None for anyone else."""
    if user_id and user_id.startswith(ANONYMOUS_USER_PREFIX):
        return f"{web_url}/register?bind={user_id}"
    return None


# --- GET /api/credits/balance/simple --------------------------------------------------------
AVAILABLE: Final = "available"
FROZEN: Final = "frozen"
TOTAL: Final = "total"


def credits_answer(available: int, frozen: int) -> dict[str, Any]:
    return {AVAILABLE: available, FROZEN: frozen, TOTAL: available + frozen}
