"""Which bearer token to send, and getting an anonymous one when there is none.

Order: ``NEMO_TOKEN`` (source ``env``) → a token saved by ``nemo-mcp login`` (``login``) → a stored
anonymous token that is not about to expire (``anonymous``) → a new anonymous token from
``POST /api/auth/anonymous-token`` with our ``X-Client-Id``.

NemoVideo hands out one anonymous token per client id every 7 days, so two processes starting at
once must not both ask. The request is made under the store's cross-process lock, the store is
re-read after the lock is taken (another process may have just stored a token), and an in-process
lock keeps concurrent coroutines from racing each other.

A token request that fails, or whose answer is lost or unreadable, is tried once more. If the
answer was lost after the request went out, NemoVideo may already have issued this client id's
token and then refuses another for 7 days (429): the request is made once more under a fresh
client id rather than locking the user out for a week.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread
import httpx

from nemo_mcp import constants
from nemo_mcp.api import retry
from nemo_mcp.api.answers import decode_answer, parse_retry_after, read_answer, response_error
from nemo_mcp.api.failures import transport_error
from nemo_mcp.api.records import Identity, TokenSource
from nemo_mcp.api.transport import Sleep
from nemo_mcp.config import Settings
from nemo_mcp.contract import account, codes, envelopes, headers, paths, values
from nemo_mcp.errors import (
    APIError,
    APIStatusError,
    AuthError,
    ClientIdMissingError,
    RateLimitError,
    TransportError,
)
from nemo_mcp.redact import register_secret
from nemo_mcp.store.base import StateStore
from nemo_mcp.store.records import Credential
from nemo_mcp.store.schema import normalise_api_url

log = logging.getLogger(__name__)

_ENV_REJECTED_HINT = (
    "Replace NEMO_TOKEN with a fresh token (nemovideo.com -> Settings -> API Tokens), or unset it "
    "to let nemo-mcp use a free anonymous token."
)
_LOGIN_REJECTED_HINT = (
    "Run `nemo-mcp login` with a fresh token (nemovideo.com -> Settings -> API Tokens), or "
    "`nemo-mcp logout` to go back to a free anonymous token."
)
_ANON_LIMIT_HINT = (
    "NemoVideo issues one anonymous token per client every 7 days (and only a few per network "
    "address). Try again later, or set NEMO_TOKEN to a token from your NemoVideo account "
    "(nemovideo.com -> Settings -> API Tokens)."
)


class TokenProvider:
    """Hands out the bearer token for ``settings.api_url``; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        http: httpx.AsyncClient,
        *,
        headers: Mapping[str, str] | None = None,
        sleep: Sleep = anyio.sleep,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = constants.TOKEN_LOCK_TIMEOUT,
    ) -> None:
        self._settings = settings
        self._store = store
        self._http = http
        self._headers = dict(headers or {})
        self._sleep = sleep
        self._clock = clock
        self._lock_timeout = lock_timeout
        self._lock = anyio.Lock()
        self._env_client_id_rejected = False
        register_secret(settings.token)

    @property
    def api_url(self) -> str:
        return normalise_api_url(self._settings.api_url)

    # --- what we have ---------------------------------------------------------------------

    def client_id(self) -> str:
        """The ``X-Client-Id``: ``NEMO_CLIENT_ID``, else the stored UUID (created once)."""
        if self._settings.client_id and not self._env_client_id_rejected:
            return self._settings.client_id
        value = self._store.get_client_id(create=True)
        assert value is not None
        return value

    def _usable(self, cred: Credential | None) -> Credential | None:
        if cred is None:
            return None
        if cred.source == "login":
            return cred  # a manual token's lifetime is the server's business (1001 tells us)
        return cred if cred.is_fresh(self._clock(), constants.TOKEN_REFRESH_MARGIN) else None

    def source(self) -> TokenSource:
        """Where the next token will come from (``none``: one will be requested)."""
        if self._settings.token:
            return "env"
        cred = self._usable(self._store.load_credential(self.api_url))
        return cred.source if cred is not None else "none"

    def identity(self) -> Identity:
        """Who we are, without the token and without any network call."""
        client_id = self._settings.client_id or self._store.get_client_id(create=False)
        if self._settings.token:
            return Identity(source="env", user_id=None, expires_at=None, client_id=client_id)
        cred = self._usable(self._store.load_credential(self.api_url))
        if cred is None:
            return Identity(source="none", user_id=None, expires_at=None, client_id=client_id)
        return Identity(
            source=cred.source,
            user_id=cred.user_id,
            expires_at=cred.expires_at,
            client_id=client_id,
            credits=cred.credits,
        )

    # --- getting a token ------------------------------------------------------------------

    async def token(self) -> str:
        """The token to send; requests an anonymous one (once, across processes) if needed."""
        if self._settings.token:
            return self._settings.token
        cred = self._usable(self._store.load_credential(self.api_url))
        if cred is not None:
            return cred.token
        async with self._lock:
            cred = self._usable(self._store.load_credential(self.api_url))
            if cred is not None:  # another coroutine got one while we waited
                return cred.token
            lock = self._store.token_lock(self._lock_timeout)
            try:
                # Blocking wait in a worker thread; not abandoned on cancel, so the finally
                # below always sees (and releases) a lock the thread took.
                await anyio.to_thread.run_sync(lock.acquire)
                cred = self._usable(self._store.load_credential(self.api_url))
                if cred is not None:  # another process got one while we waited
                    log.debug("using the anonymous token another process just stored")
                    return cred.token
                cred = await self._request_anonymous()
                self._store.save_credential(self.api_url, cred)
                log.info("obtained an anonymous NemoVideo token (user %s)", cred.user_id)
                return cred.token
            finally:
                lock.release()

    async def _post_token(self, client_id: str) -> tuple[httpx.Response, bytes]:
        """The answer and its body (read up to ``MAX_ANSWER_BYTES``)."""
        sent = {**self._headers, headers.CLIENT_ID: client_id}
        request = self._http.build_request("POST", self.api_url + paths.ANON_TOKEN, headers=sent)
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
            try:
                content = await read_answer(response, "Getting an anonymous token")
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise transport_error(exc, "Getting an anonymous token failed") from exc
        return response, content

    def _fresh_client_id(self) -> str:
        """A new persisted client id (NEMO_CLIENT_ID, if set, is no longer used)."""
        if self._settings.client_id:
            self._env_client_id_rejected = True
        client_id = str(uuid.uuid4())
        self._store.set_client_id(client_id)
        return client_id

    async def _request_anonymous(self) -> Credential:
        client_id = self.client_id()
        regenerated = False
        waited = False
        retried = False  # the one retry after a failed or unreadable answer
        lost = False  # an answer was lost after sending: a token may have gone to client_id
        while True:
            try:
                response, content = await self._post_token(client_id)
            except TransportError as err:
                if retried:
                    raise
                retried = True
                lost = lost or not isinstance(err.__cause__, retry.PRE_SEND)
                log.info("the anonymous-token request failed (%s); retrying once", err.kind)
                await self._sleep(constants.RETRY_BASE_DELAY)
                continue
            status = response.status_code
            if status == 400 and not regenerated:
                regenerated = True
                if self._settings.client_id and not self._env_client_id_rejected:
                    log.warning("NemoVideo rejected NEMO_CLIENT_ID; using a generated client id")
                client_id = self._fresh_client_id()
                continue
            if status == 429:
                if lost and not regenerated:
                    # The token issued with the lost answer belongs to this client id, which gets
                    # no other one for 7 days: carry on under a fresh client id (once).
                    regenerated = True
                    lost = False
                    log.warning(
                        "an anonymous token was issued but its answer was lost; "
                        "continuing with a new client id"
                    )
                    client_id = self._fresh_client_id()
                    continue
                retry_after = parse_retry_after(response.headers)
                delay = retry.rate_limit_wait(retry_after)
                if not waited and delay is not None:
                    waited = True
                    log.info("anonymous token rate limited; retrying once in %.0f s", delay)
                    await self._sleep(delay)
                    continue
                raise RateLimitError(
                    "NemoVideo refused a new anonymous token (HTTP 429).",
                    retry_after=retry_after,
                    hint=_ANON_LIMIT_HINT,
                    status=429,
                )
            if status == 400:
                raise ClientIdMissingError(
                    "NemoVideo rejected the anonymous-token request twice (HTTP 400), even with a "
                    "fresh client id.",
                    status=400,
                )
            if 200 <= status < 300 and not retried:
                try:
                    return self._credential_from(response, content)
                except (APIError, APIStatusError) as err:
                    if type(err) is not APIStatusError and not isinstance(err, APIError):
                        raise  # a refusal the envelope names (a known code): not unreadable
                    # A success whose body is unreadable: the token may have been issued.
                    retried = lost = True
                    log.info("the anonymous-token answer was unreadable; retrying once")
                    continue
            return self._credential_from(response, content)

    def _credential_from(self, response: httpx.Response, content: bytes) -> Credential:
        content_type = response.headers.get("content-type")
        if response.status_code >= 300:
            raise response_error(response.status_code, content, content_type)
        is_json, body = decode_answer(content, "Getting an anonymous token")
        if not is_json:
            raise APIError(
                "NemoVideo answered the anonymous-token request with something that is not JSON."
            )
        env = envelopes.unwrap(body)
        if not env.ok:
            raise response_error(response.status_code, content, content_type)
        data: Any = env.payload
        token = data.get(account.TOKEN) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise APIError("NemoVideo's anonymous-token answer carried no token.")
        token = token.strip()
        register_secret(token)
        assert isinstance(data, dict)
        now = self._clock()
        expires_at = values.epoch(values.first(data, account.TOKEN_EXPIRES_AT_KEYS))
        if expires_at is None:
            expires_in = values.first(data, account.TOKEN_EXPIRES_IN_KEYS)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
                expires_at = now + float(expires_in)
        if expires_at is None:
            expires_at = now + constants.ANON_TOKEN_LIFETIME
        user_id = values.first(data, account.USER_ID_KEYS)
        credits = data.get(account.CREDITS)
        return Credential(
            token=token,
            user_id=str(user_id) if user_id else None,
            expires_at=expires_at,
            credits=credits if isinstance(credits, int) and not isinstance(credits, bool) else None,
            source="anonymous",
            obtained_at=now,
        )

    # --- when the server says no ----------------------------------------------------------

    async def invalidate(self, rejected: str | None = None) -> None:
        """Drop a token the server rejected (1001) so the next ``token()`` gets a fresh one.

        Only anonymous tokens are dropped. A ``NEMO_TOKEN`` or ``login`` token cannot be renewed
        by us, so this raises ``AuthError`` telling the user to replace it. ``rejected`` is the
        token that failed: a newer token stored meanwhile (by another process) is kept.
        """
        if self._settings.token and (rejected is None or rejected == self._settings.token):
            raise AuthError(
                "NemoVideo rejected the token in NEMO_TOKEN (expired or revoked).",
                hint=_ENV_REJECTED_HINT,
                code=codes.TOKEN_INVALID,
            )
        async with self._lock:
            cred = self._store.load_credential(self.api_url)
            if cred is None or (rejected is not None and cred.token != rejected):
                return
            if cred.source == "login":
                raise AuthError(
                    "NemoVideo rejected the token saved with `nemo-mcp login` (expired or "
                    "revoked).",
                    hint=_LOGIN_REJECTED_HINT,
                    code=codes.TOKEN_INVALID,
                )
            self._store.clear_credential(self.api_url, only_token=cred.token)
            log.info("dropped a rejected anonymous token; the next call gets a new one")


__all__ = ["Sleep", "TokenProvider"]
