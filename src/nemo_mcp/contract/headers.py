"""Header names, and the headers every API request carries besides the body's own."""

from __future__ import annotations

from typing import Final

AUTHORIZATION: Final = "Authorization"
CLIENT_ID: Final = "X-Client-Id"  # the anonymous-token request's client id
SKILL_SOURCE: Final = "X-Skill-Source"  # which skill calls (its SKILL.md name)
SKILL_VERSION: Final = "X-Skill-Version"
SKILL_PLATFORM: Final = "X-Skill-Platform"  # where it is installed (clawhub, cursor, ...)
ATTRIBUTION: Final = (SKILL_SOURCE, SKILL_VERSION, SKILL_PLATFORM)

EVENT_STREAM: Final = "text/event-stream"  # the content type of ``/run_sse`` answers
BEARER: Final = "Bearer"


def bearer(token: str) -> dict[str, str]:
    return {AUTHORIZATION: f"{BEARER} {token}"}


def attribution(source: str, version: str, platform: str) -> dict[str, str]:
    """The three ``X-Skill-*`` headers (the export refuses requests without them: HTTP 402)."""
    return {SKILL_SOURCE: source, SKILL_VERSION: version, SKILL_PLATFORM: platform}
