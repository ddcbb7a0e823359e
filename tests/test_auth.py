"""TokenProvider: token order, anonymous bootstrap, 400/429 handling, invalidation, identity."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import respx

from nemo_mcp import constants
from nemo_mcp.api.auth import TokenProvider
from nemo_mcp.config import Settings
from nemo_mcp.errors import AuthError, ClientIdMissingError, RateLimitError
from nemo_mcp.store.records import Credential
from nemo_mcp.store.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

API = "http://auth.nemo.test"
TOKEN_PATH = "/api/auth/anonymous-token"
TOKEN = "nmv_usr_AUTH0sentinel0token0aaaa"
TOKEN2 = "nmv_usr_AUTH0sentinel0token0bbbb"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _ok(token: str = TOKEN, **extra: object) -> httpx.Response:
    data: dict[str, object] = {"token": token, "user_id": "anon_abc", "credits": 100, **extra}
    return httpx.Response(200, json={"code": 0, "data": data})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(api_url=API, home=tmp_path / "state")


@pytest.fixture
def store(settings: Settings) -> Iterator[SQLiteStore]:
    with SQLiteStore(settings.home) as s:
        yield s


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API) as r:
        yield r


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def _provider(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, sleeps: Sleeps | None = None
) -> TokenProvider:
    return TokenProvider(
        settings, store, http, headers={"X-Skill-Source": "nemo-mcp"}, sleep=sleeps or Sleeps()
    )


# --- order of sources ---------------------------------------------------------------------


async def test_env_token_wins(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient
) -> None:
    store.save_credential(API, Credential(token="nmv_usr_stored_login", source="login"))
    with respx.mock(assert_all_called=False) as r:
        route = r.post(API + TOKEN_PATH)
        p = _provider(settings.with_(token=TOKEN), store, http)
        assert await p.token() == TOKEN
        assert route.call_count == 0
    ident = p.identity()
    assert ident.source == "env" and ident.user_id is None


async def test_login_token_beats_anonymous(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient
) -> None:
    store.save_credential(
        API,
        Credential(token="nmv_usr_anon_token_1", user_id="anon_1", expires_at=time.time() + 1e5),
    )
    store.save_credential(  # what `nemo-mcp login` stores: it replaces the anonymous token
        API, Credential(token="nmv_usr_manual_token_1", user_id="u_1", source="login")
    )
    p = _provider(settings, store, http)
    assert await p.token() == "nmv_usr_manual_token_1"
    assert p.identity().source == "login" and p.identity().user_id == "u_1"
    assert store.clear_credential(API)
    assert p.identity().source == "none"


async def test_fresh_stored_anonymous_token_is_reused(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient
) -> None:
    store.save_credential(
        API, Credential(token=TOKEN, expires_at=time.time() + 3 * 24 * 3600, user_id="anon_x")
    )
    with respx.mock(assert_all_called=False) as r:
        route = r.post(API + TOKEN_PATH)
        assert await _provider(settings, store, http).token() == TOKEN
        assert route.call_count == 0


async def test_nearly_expired_token_is_renewed_with_the_same_client_id(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    client_id = store.get_client_id()
    almost = time.time() + constants.TOKEN_REFRESH_MARGIN / 2
    store.save_credential(API, Credential(token=TOKEN2, expires_at=almost))
    route = router.post(TOKEN_PATH).mock(return_value=_ok(TOKEN))
    assert await _provider(settings, store, http).token() == TOKEN
    assert route.calls[0].request.headers["x-client-id"] == client_id


# --- bootstrap ----------------------------------------------------------------------------


async def test_bootstrap_stores_token_user_and_expiry(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    route = router.post(TOKEN_PATH).mock(return_value=_ok(expires_at="2030-01-02T03:04:05Z"))
    p = _provider(settings, store, http)
    assert await p.token() == TOKEN
    assert await p.token() == TOKEN
    assert route.call_count == 1
    request = route.calls[0].request
    client_id = store.get_client_id(create=False)
    assert client_id is not None and str(uuid.UUID(client_id)) == client_id
    assert request.headers["x-client-id"] == client_id
    assert request.headers["x-skill-source"] == "nemo-mcp"
    assert "authorization" not in request.headers
    cred = store.load_credential(API)
    assert cred is not None
    assert (cred.token, cred.user_id, cred.credits, cred.source) == (
        TOKEN,
        "anon_abc",
        100,
        "anonymous",
    )
    assert cred.expires_at == 1893553445.0
    ident = p.identity()
    assert (ident.source, ident.user_id, ident.client_id) == ("anonymous", "anon_abc", client_id)
    assert TOKEN not in repr(ident)


@pytest.mark.parametrize(
    ("extra", "expected_offset"),
    [
        ({}, constants.ANON_TOKEN_LIFETIME),
        ({"expires_in": 3600}, 3600.0),
        ({"expires_at": 4102444800000}, None),  # epoch milliseconds
    ],
)
async def test_expiry_forms(
    settings: Settings,
    store: SQLiteStore,
    http: httpx.AsyncClient,
    router: respx.MockRouter,
    extra: dict[str, object],
    expected_offset: float | None,
) -> None:
    router.post(TOKEN_PATH).mock(return_value=_ok(**extra))
    before = time.time()
    await _provider(settings, store, http).token()
    cred = store.load_credential(API)
    assert cred is not None and cred.expires_at is not None
    if expected_offset is None:
        assert cred.expires_at == 4102444800.0
    else:
        assert before + expected_offset - 5 <= cred.expires_at <= time.time() + expected_offset


async def test_bare_token_answer_is_accepted(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    router.post(TOKEN_PATH).respond(json={"token": TOKEN})
    assert await _provider(settings, store, http).token() == TOKEN


async def test_configured_client_id_is_used(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    route = router.post(TOKEN_PATH).mock(return_value=_ok())
    await _provider(settings.with_(client_id="my-client"), store, http).token()
    assert route.calls[0].request.headers["x-client-id"] == "my-client"


async def test_concurrent_coroutines_request_one_token(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.05)
        return _ok()

    route = router.post(TOKEN_PATH).mock(side_effect=slow)
    p = _provider(settings, store, http)
    got: list[str] = []

    async def one() -> None:
        got.append(await p.token())

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(one)
    assert got == [TOKEN] * 8
    assert route.call_count == 1


async def test_token_never_logged(
    settings: Settings,
    store: SQLiteStore,
    http: httpx.AsyncClient,
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    router.post(TOKEN_PATH).mock(return_value=_ok())
    p = _provider(settings, store, http)
    await p.token()
    await p.invalidate(TOKEN)
    assert caplog.records
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


# --- 400 and 429 --------------------------------------------------------------------------


async def test_400_regenerates_the_client_id_and_retries_once(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    first_id = store.get_client_id()
    route = router.post(TOKEN_PATH).mock(
        side_effect=[httpx.Response(400, json={"message": "X-Client-Id required"}), _ok()]
    )
    assert await _provider(settings, store, http).token() == TOKEN
    ids = [c.request.headers["x-client-id"] for c in route.calls]
    assert ids[0] == first_id and ids[1] != first_id
    assert store.get_client_id() == ids[1]  # persisted


async def test_400_for_a_configured_client_id_falls_back_to_a_stored_one(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    route = router.post(TOKEN_PATH).mock(side_effect=[httpx.Response(400), _ok()])
    p = _provider(settings.with_(client_id="x" * 100), store, http)
    assert await p.token() == TOKEN
    second = route.calls[1].request.headers["x-client-id"]
    assert second != "x" * 100 and p.client_id() == second


async def test_400_twice_is_a_client_id_error(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    route = router.post(TOKEN_PATH).respond(400)
    with pytest.raises(ClientIdMissingError):
        await _provider(settings, store, http).token()
    assert route.call_count == 2
    assert store.load_credential(API) is None


async def test_429_waits_30s_once(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    sleeps = Sleeps()
    route = router.post(TOKEN_PATH).mock(side_effect=[httpx.Response(429), _ok()])
    assert await _provider(settings, store, http, sleeps).token() == TOKEN
    assert route.call_count == 2
    assert sleeps.calls == [constants.RATE_LIMIT_RETRY_DELAY]


async def test_429_twice_explains_the_limit(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    sleeps = Sleeps()
    route = router.post(TOKEN_PATH).respond(429)
    with pytest.raises(RateLimitError) as info:
        await _provider(settings, store, http, sleeps).token()
    assert route.call_count == 2
    assert sleeps.calls == [constants.RATE_LIMIT_RETRY_DELAY]
    assert "7 days" in str(info.value) and "NEMO_TOKEN" in str(info.value)


async def test_error_envelope_from_token_endpoint(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient, router: respx.MockRouter
) -> None:
    router.post(TOKEN_PATH).respond(json={"code": 5000, "message": "maintenance"})
    with pytest.raises(Exception, match="5000"):
        await _provider(settings, store, http).token()
    router.post(TOKEN_PATH).respond(json={"code": 0, "data": {"user_id": "anon_1"}})
    with pytest.raises(Exception, match="no token"):
        await _provider(settings, store, http).token()


# --- invalidation -------------------------------------------------------------------------


async def test_invalidate_drops_only_the_rejected_anonymous_token(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient
) -> None:
    p = _provider(settings, store, http)
    store.save_credential(API, Credential(token=TOKEN2))
    await p.invalidate(TOKEN)  # another process already replaced the rejected token
    assert store.load_credential(API) is not None
    await p.invalidate(TOKEN2)
    assert store.load_credential(API) is None
    await p.invalidate(TOKEN2)  # nothing left: a no-op


async def test_invalidate_env_or_login_token_raises(
    settings: Settings, store: SQLiteStore, http: httpx.AsyncClient
) -> None:
    with pytest.raises(AuthError, match="NEMO_TOKEN"):
        await _provider(settings.with_(token=TOKEN), store, http).invalidate(TOKEN)
    store.save_credential(API, Credential(token=TOKEN2, source="login"))
    with pytest.raises(AuthError, match="login"):
        await _provider(settings, store, http).invalidate(TOKEN2)
    assert store.load_credential(API) is not None
