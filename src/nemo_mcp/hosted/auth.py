"""Who is calling: the two ways a hosted nemo-mcp checks ``Authorization: Bearer ...`` (the SDK's
``TokenVerifier``; the SDK answers a missing or refused token with 401, ``WWW-Authenticate`` and
the RFC 9728 protected-resource metadata).

- ``NemoVideoTokens`` (pass-through): the bearer is the user's NemoVideo token. It is checked
  with NemoVideo once (a credit-balance read), then remembered by its SHA-256 for a while; the
  user is named by that hash. The token is kept encrypted in the store (so another worker can
  finish the user's render) and never logged.
- ``IdentityProviderTokens`` (OAuth 2.1 resource server): a JWT access token from the team's
  identity provider, checked against its issuer, audience and published keys (PyJWT). The user
  is named by issuer and subject, and links a NemoVideo account once (``link_account``).

Each returns the SDK's ``AccessToken`` with ``client_id`` = the owner every store row is
scoped by, after opening that user's studio.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import anyio
from mcp.server.auth.provider import AccessToken

from nemo_mcp.api.client import NemoClient
from nemo_mcp.errors import AuthError, NemoError
from nemo_mcp.hosted.options import HostedOptions
from nemo_mcp.hosted.studios import HostedStudios
from nemo_mcp.redact import register_secret
from nemo_mcp.store.records import Credential

log = logging.getLogger(__name__)

KNOWN_TOKENS_KEPT = 10_000  # accepted token hashes remembered per worker


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def check_with_nemovideo(studios: HostedStudios, owner: str, token: str) -> bool:
    """True when NemoVideo accepts the token (it reads the balance); then it is stored, sealed,
    as the owner's credential. An outage is an error, not a refusal."""
    register_secret(token)
    view = studios.database.for_owner(owner)
    settings = studios._user_settings(token)
    async with NemoClient(settings, store=view) as client:
        try:
            balance = await client.get_credits()
        except AuthError:
            return False
    view.save_credential(
        settings.api_url, Credential(token=token, source="login", credits=balance.available)
    )
    return True


class NemoVideoTokens:
    """Pass-through: the bearer is a NemoVideo token (see the module docstring)."""

    def __init__(self, studios: HostedStudios, options: HostedOptions) -> None:
        self._studios = studios
        self._ttl = options.auth_cache_seconds
        self._known: dict[str, float] = {}  # sha256 of an accepted token -> until (monotonic)

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = _digest(token)
        owner = f"nv-{digest[:32]}"
        if self._known.get(digest, 0) < time.monotonic():
            try:
                accepted = await check_with_nemovideo(self._studios, owner, token)
            except NemoError:
                # NemoVideo unreachable: a token accepted before (here, or stored by any
                # worker) keeps working; an unknown one cannot be checked now
                if not self._accepted_before(digest, owner, token):
                    raise
                log.info("NemoVideo unreachable: a token accepted before is let through")
                accepted = True
            if not accepted:
                log.info("a bearer token was refused by NemoVideo")
                return None
            if len(self._known) >= KNOWN_TOKENS_KEPT:  # forget the oldest half
                for old in list(self._known)[: KNOWN_TOKENS_KEPT // 2]:
                    del self._known[old]
            self._known[digest] = time.monotonic() + self._ttl
        await self._studios.ensure(owner, token)
        return AccessToken(token=token, client_id=owner, scopes=[], subject=owner)

    def _accepted_before(self, digest: str, owner: str, token: str) -> bool:
        if digest in self._known:
            return True
        view = self._studios.database.for_owner(owner)
        try:
            cred = view.load_credential(self._studios.settings.api_url)
        except NemoError:
            return False
        return cred is not None and cred.token == token


class IdentityProviderTokens:
    """OAuth 2.1 resource server: JWT access tokens (see the module docstring)."""

    ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA")

    def __init__(self, studios: HostedStudios, options: HostedOptions) -> None:
        import jwt

        assert options.jwt_issuer and options.jwt_jwks_url
        self._studios = studios
        self._issuer = options.jwt_issuer
        self._audience = options.jwt_audience or options.public_url
        self._keys = jwt.PyJWKClient(options.jwt_jwks_url, cache_keys=True, lifespan=600)

    def _claims(self, token: str) -> dict[str, Any] | None:
        import jwt

        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(self.ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iss", "sub"]},
            )
        except jwt.PyJWTError as err:
            log.info("an access token was refused: %s", type(err).__name__)
            return None
        return claims

    def owner_of(self, claims: dict[str, Any]) -> str:
        return f"idp-{_digest(str(claims['iss']) + chr(0) + str(claims['sub']))[:32]}"

    async def claims(self, token: str) -> dict[str, Any] | None:
        return await anyio.to_thread.run_sync(self._claims, token)

    async def verify_token(self, token: str) -> AccessToken | None:
        claims = await self.claims(token)
        if claims is None:
            return None
        owner = self.owner_of(claims)
        view = self._studios.database.for_owner(owner)
        cred = view.load_credential(self._studios.settings.api_url)
        if cred is not None:  # linked: the user's studio works with their NemoVideo token
            await self._studios.ensure(owner, cred.token)
        scope = claims.get("scope")
        return AccessToken(
            token=token,
            client_id=owner,
            scopes=scope.split() if isinstance(scope, str) else [],
            expires_at=int(claims["exp"]),
            subject=str(claims["sub"]),
            claims={"iss": claims["iss"]},
        )

    async def link_account(self, token: str, nemo_token: str) -> str:
        """Link the access token's subject to a NemoVideo account, once (again: replace it)."""
        claims = await self.claims(token)
        if claims is None:
            raise AuthError("The access token was refused.", status=401)
        owner = self.owner_of(claims)
        try:
            accepted = await check_with_nemovideo(self._studios, owner, nemo_token)
        except NemoError as err:
            raise NemoError(f"NemoVideo could not be reached: {err.kind}.") from err
        if not accepted:
            raise AuthError(
                "NemoVideo refused that token.",
                hint="Copy a token from nemovideo.com -> Settings -> API Tokens.",
                status=400,
            )
        self._studios.close(owner)  # a studio open with an earlier token: reopened with this
        return owner
