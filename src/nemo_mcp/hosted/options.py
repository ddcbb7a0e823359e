"""Hosted mode's settings (``nemo-mcp serve --http --hosted``), from the environment:

NEMO_MCP_DATABASE_URL    postgresql://... the database every worker shares (required)
NEMO_MCP_TOKEN_KEY       the key NemoVideo tokens are encrypted with at rest (required; make one
                         with ``nemo-mcp serve --hosted --new-key``)
NEMO_MCP_PUBLIC_URL      the MCP endpoint as clients reach it, e.g. https://mcp.example.com/mcp
                         (the protected resource's identifier; default http://HOST:PORT/mcp)
NEMO_MCP_AUTH            "nemovideo" (default): the bearer is the user's NemoVideo token;
                         "jwt": OAuth 2.1 access tokens from the team's identity provider
NEMO_MCP_JWT_ISSUER      with jwt: the issuer (also the authorization server clients are sent to)
NEMO_MCP_JWT_AUDIENCE    with jwt: the audience tokens must carry (default: the public URL)
NEMO_MCP_JWT_JWKS_URL    with jwt: where the issuer's signing keys are published
NEMO_MCP_SWEEP_SECONDS   how often a worker looks for renders nobody polls (default 5)
NEMO_MCP_RENDER_POLL_SECONDS  how often a render is polled (default the contract's 10)
NEMO_MCP_IDLE_SECONDS    a user's studio (HTTP client, jobs) is closed after this long without
                         a request and with nothing running (default 1800)
NEMO_MCP_REDIS_URL       (settings) redis://... progress and updates across workers

The database and token key are ``Settings`` fields (the store reads them); the rest is here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from nemo_mcp import constants
from nemo_mcp.config import Settings
from nemo_mcp.errors import ConfigError

AuthMode = Literal["nemovideo", "jwt"]


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw[:40]!r}.") from None
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0.")
    return value


@dataclass(frozen=True)
class HostedOptions:
    public_url: str
    auth: AuthMode = "nemovideo"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None
    sweep_seconds: float = 5.0
    poll_interval: float = constants.RENDER_POLL_INTERVAL
    auth_cache_seconds: float = 300.0
    idle_seconds: float = 1800.0

    @classmethod
    def from_env(
        cls, settings: Settings, host: str, port: int, env: Mapping[str, str] | None = None
    ) -> HostedOptions:
        env = os.environ if env is None else env
        if not settings.database_url:
            raise ConfigError(
                "Hosted mode needs a PostgreSQL database that every worker shares.",
                hint="Set NEMO_MCP_DATABASE_URL=postgresql://user@host/dbname.",
            )
        if not settings.token_key:
            raise ConfigError(
                "Hosted mode keeps users' NemoVideo tokens encrypted: it needs a key.",
                hint="Set NEMO_MCP_TOKEN_KEY to the output of: nemo-mcp serve --hosted --new-key",
            )
        shown = f"[{host}]" if ":" in host else host
        public = (env.get("NEMO_MCP_PUBLIC_URL") or f"http://{shown}:{port}/mcp").strip()
        mode = (env.get("NEMO_MCP_AUTH") or "nemovideo").strip().lower()
        if mode not in ("nemovideo", "jwt"):
            raise ConfigError(
                f"NEMO_MCP_AUTH must be nemovideo or jwt, not {mode[:20]!r}.",
                hint="nemovideo: users send their NemoVideo token; jwt: your identity provider's.",
            )
        options = cls(
            public_url=public.rstrip("/"),
            auth=mode,  # type: ignore[arg-type]
            jwt_issuer=(env.get("NEMO_MCP_JWT_ISSUER") or "").strip() or None,
            jwt_audience=(env.get("NEMO_MCP_JWT_AUDIENCE") or "").strip() or None,
            jwt_jwks_url=(env.get("NEMO_MCP_JWT_JWKS_URL") or "").strip() or None,
            sweep_seconds=_float(env, "NEMO_MCP_SWEEP_SECONDS", 5.0),
            poll_interval=_float(
                env, "NEMO_MCP_RENDER_POLL_SECONDS", constants.RENDER_POLL_INTERVAL
            ),
            idle_seconds=_float(env, "NEMO_MCP_IDLE_SECONDS", 1800.0),
        )
        if options.auth == "jwt" and not (options.jwt_issuer and options.jwt_jwks_url):
            raise ConfigError(
                "NEMO_MCP_AUTH=jwt needs the identity provider's issuer and signing keys.",
                hint="Set NEMO_MCP_JWT_ISSUER and NEMO_MCP_JWT_JWKS_URL "
                "(and NEMO_MCP_JWT_AUDIENCE if tokens name another audience).",
            )
        return options

    @property
    def issuer_url(self) -> str:
        """The authorization server named in the protected-resource metadata."""
        if self.auth == "jwt" and self.jwt_issuer:
            return self.jwt_issuer
        return "https://nemovideo.com"
