"""Error codes, re-auth, rate limits, retries and secret hygiene in NemoClient."""

from __future__ import annotations

import httpx
import pytest
import respx
from nemo_client_helpers import ANON_USER, SENTINEL, SENTINEL2, WEB, Sleeps, assert_clean

from nemo_mcp import constants
from nemo_mcp.api.client import NemoClient
from nemo_mcp.config import Settings
from nemo_mcp.errors import (
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthError,
    ExportBlockedError,
    FileTooLargeError,
    InsufficientCreditsError,
    RateLimitError,
    ServerError,
    SessionNotFoundError,
    TransportError,
    UnsupportedFileError,
)
from nemo_mcp.store.records import Credential
from nemo_mcp.store.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

CREDITS = "/api/credits/balance/simple"
SESSION = "/api/tasks/me/with-session/nemo_agent"
OK_CREDITS = {"code": 0, "data": {"available": 1, "frozen": 0, "total": 1}}
OK_SESSION = {"code": 0, "data": {"task_id": "t", "session_id": "s"}}


def _bearer(call: respx.models.Call) -> str:
    return call.request.headers["authorization"]


# --- 1001 / 401: re-auth once --------------------------------------------------------------


@pytest.mark.parametrize(
    "rejection",
    [
        httpx.Response(200, json={"code": 1001, "message": "token expired"}),
        httpx.Response(401, json={"code": 1001, "message": "token expired"}),
        httpx.Response(401, text="unauthorized"),
    ],
    ids=["envelope-1001", "http-401-1001", "http-401-plain"],
)
async def test_rejected_anonymous_token_is_replaced_once(
    client: NemoClient,
    api: respx.MockRouter,
    store: SQLiteStore,
    rejection: httpx.Response,
    no_leaks: pytest.LogCaptureFixture,
) -> None:
    route = api.get(CREDITS).mock(side_effect=[rejection, httpx.Response(200, json=OK_CREDITS)])
    assert (await client.get_credits()).available == 1
    assert api.routes["token"].call_count == 2
    assert [_bearer(c) for c in route.calls] == [f"Bearer {SENTINEL}", f"Bearer {SENTINEL2}"]
    stored = store.load_credential(client.settings.api_url)
    assert stored is not None and stored.token == SENTINEL2


async def test_second_rejection_is_an_auth_error(
    client: NemoClient, api: respx.MockRouter, no_leaks: pytest.LogCaptureFixture
) -> None:
    route = api.get(CREDITS).respond(200, json={"code": 1001, "message": "bad token"})
    with pytest.raises(AuthError) as info:
        await client.get_credits()
    assert route.call_count == 2
    assert info.value.code == 1001
    assert_clean(info.value)


async def test_env_token_rejection_tells_the_user_to_replace_it(
    settings: Settings, store: SQLiteStore, sleeps: Sleeps, api: respx.MockRouter
) -> None:
    route = api.get(CREDITS).respond(200, json={"code": 1001})
    env_settings = settings.with_(token=SENTINEL)
    async with NemoClient(env_settings, store=store, sleep=sleeps) as c:
        with pytest.raises(AuthError) as info:
            await c.get_credits()
    assert route.call_count == 1
    assert api.routes["token"].call_count == 0
    assert "NEMO_TOKEN" in str(info.value)
    assert_clean(info.value)


async def test_login_token_rejection_is_not_replaced(
    settings: Settings, store: SQLiteStore, sleeps: Sleeps, api: respx.MockRouter
) -> None:
    store.save_credential(settings.api_url, Credential(token=SENTINEL, source="login"))
    route = api.get(CREDITS).respond(401, json={"code": 1001})
    async with NemoClient(settings, store=store, sleep=sleeps) as c:
        with pytest.raises(AuthError) as info:
            await c.get_credits()
    assert route.call_count == 1
    assert api.routes["token"].call_count == 0
    assert "nemo-mcp login" in str(info.value)
    assert store.load_credential(settings.api_url) is not None  # kept: only the user replaces it


# --- the documented codes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, json={"code": 1002, "message": "no session"}), SessionNotFoundError),
        (httpx.Response(404, json={"detail": "Session not found"}), SessionNotFoundError),
        (httpx.Response(200, json={"code": 4001, "message": "bad type"}), UnsupportedFileError),
        (httpx.Response(200, json={"code": 4002, "message": "too big"}), FileTooLargeError),
        (httpx.Response(413, text="too large"), FileTooLargeError),
        (httpx.Response(402, json={"message": "upgrade"}), ExportBlockedError),
        (httpx.Response(200, json={"code": 7777, "message": "odd"}), APIStatusError),
        (httpx.Response(200, json={"success": False, "error": "nope"}), APIStatusError),
    ],
)
async def test_error_codes_map_to_classes(
    client: NemoClient,
    api: respx.MockRouter,
    response: httpx.Response,
    error: type[Exception],
    no_leaks: pytest.LogCaptureFixture,
) -> None:
    route = api.get("/api/state/nemo_agent/me/s1/latest").mock(return_value=response)
    with pytest.raises(error) as info:
        await client.get_state("s1")
    assert route.call_count == 1
    assert_clean(info.value)


async def test_no_credits_for_anonymous_user_links_registration(
    client: NemoClient, api: respx.MockRouter
) -> None:
    api.post(SESSION).respond(200, json={"code": 2001, "message": "Insufficient credits"})
    with pytest.raises(InsufficientCreditsError) as info:
        await client.create_session()
    assert info.value.registration_url == f"{WEB}/register?bind={ANON_USER}"
    assert f"bind={ANON_USER}" in str(info.value)
    assert_clean(info.value)


async def test_no_credits_for_registered_user_has_no_link(
    settings: Settings, store: SQLiteStore, sleeps: Sleeps, api: respx.MockRouter
) -> None:
    api.post(SESSION).respond(200, json={"code": 2001})
    async with NemoClient(settings.with_(token=SENTINEL), store=store, sleep=sleeps) as c:
        with pytest.raises(InsufficientCreditsError) as info:
            await c.create_session()
    assert info.value.registration_url is None
    assert "Top up" in str(info.value)


async def test_server_message_urls_are_reduced_to_hosts(
    client: NemoClient, api: respx.MockRouter
) -> None:
    api.get(CREDITS).respond(
        400, json={"code": 9, "message": "see https://signed.example/x?sig=SECRET1234 now"}
    )
    with pytest.raises(APIStatusError) as info:
        await client.get_credits()
    assert "SECRET1234" not in str(info.value)
    assert "signed.example" in str(info.value)


async def test_non_json_error_body_is_described_not_echoed(
    client: NemoClient, api: respx.MockRouter
) -> None:
    page = "<html>" + "gateway trouble " * 5000 + "</html>"
    api.post(SESSION).respond(502, text=page, headers={"content-type": "text/html"})
    with pytest.raises(ServerError) as info:
        await client.create_session()
    text = str(info.value)
    assert "gateway trouble" not in text and "<html>" not in text
    assert "non-JSON" in text and "text/html" in text
    assert len(text) < 500


async def test_non_json_success_body_is_an_api_error(
    client: NemoClient, api: respx.MockRouter
) -> None:
    api.get(CREDITS).respond(200, text="<html>hello</html>", headers={"content-type": "text/html"})
    with pytest.raises(APIError, match="not JSON"):
        await client.get_credits()


# --- 429 ----------------------------------------------------------------------------------


async def test_rate_limit_waits_30s_once_then_retries(
    client: NemoClient, api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(SESSION).mock(
        side_effect=[httpx.Response(429), httpx.Response(200, json=OK_SESSION)]
    )
    assert (await client.create_session()).session_id == "s"
    assert route.call_count == 2
    assert sleeps.calls == [constants.RATE_LIMIT_RETRY_DELAY]


async def test_rate_limit_twice_raises(
    client: NemoClient, api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get(CREDITS).respond(429)
    with pytest.raises(RateLimitError):
        await client.get_credits()
    assert route.call_count == 2
    assert sleeps.calls == [constants.RATE_LIMIT_RETRY_DELAY]


async def test_rate_limit_honours_short_retry_after(
    client: NemoClient, api: respx.MockRouter, sleeps: Sleeps
) -> None:
    api.get(CREDITS).mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "5"}),
            httpx.Response(200, json=OK_CREDITS),
        ]
    )
    await client.get_credits()
    assert sleeps.calls == [5.0]


async def test_rate_limit_with_long_retry_after_is_reported_not_slept(
    client: NemoClient, api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get(CREDITS).respond(429, headers={"retry-after": "600"})
    with pytest.raises(RateLimitError) as info:
        await client.get_credits()
    assert info.value.retry_after == 600.0
    assert route.call_count == 1
    assert sleeps.calls == []


# --- 5xx, timeouts, connection errors -----------------------------------------------------


async def test_get_is_retried_on_5xx(
    client: NemoClient, api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get(CREDITS).mock(
        side_effect=[httpx.Response(503), httpx.Response(500), httpx.Response(200, json=OK_CREDITS)]
    )
    assert (await client.get_credits()).available == 1
    assert route.call_count == 3
    assert len(sleeps.calls) == 2
    assert all(0 < s <= constants.RETRY_MAX_DELAY + constants.RETRY_JITTER for s in sleeps.calls)


async def test_get_gives_up_after_max_retries(
    client: NemoClient, api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get(CREDITS).respond(500)
    with pytest.raises(ServerError):
        await client.get_credits()
    assert route.call_count == constants.MAX_RETRIES + 1


async def test_post_is_not_retried_on_5xx(
    client: NemoClient, api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(SESSION).respond(500)
    with pytest.raises(ServerError):
        await client.create_session()
    assert route.call_count == 1
    assert sleeps.calls == []


async def test_get_is_retried_after_read_timeout(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.get(CREDITS).mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=OK_CREDITS)]
    )
    await client.get_credits()
    assert route.call_count == 2


async def test_get_timeouts_exhausted_raise_timeout_error(
    client: NemoClient, api: respx.MockRouter, no_leaks: pytest.LogCaptureFixture
) -> None:
    api.get(CREDITS).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError) as info:
        await client.get_credits()
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert_clean(info.value)


async def test_post_read_timeout_is_not_retried(
    client: NemoClient, api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(SESSION).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError):
        await client.create_session()
    assert route.call_count == 1


async def test_post_connect_error_is_retried(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.post(SESSION).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=OK_SESSION)]
    )
    assert (await client.create_session()).task_id == "t"
    assert route.call_count == 2


async def test_post_remote_protocol_error_is_not_retried(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post(SESSION).mock(side_effect=httpx.RemoteProtocolError("peer closed"))
    with pytest.raises(TransportError) as info:
        await client.create_session()
    assert route.call_count == 1
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


async def test_connection_errors_exhausted(
    client: NemoClient, api: respx.MockRouter, no_leaks: pytest.LogCaptureFixture
) -> None:
    route = api.get(CREDITS).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        await client.get_credits()
    assert route.call_count == constants.MAX_RETRIES + 1
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert not isinstance(info.value, APITimeoutError)
    assert_clean(info.value)


async def test_transport_error_text_hides_urls(client: NemoClient, api: respx.MockRouter) -> None:
    api.get(CREDITS).mock(
        side_effect=httpx.ConnectError(f"failed for https://x.test/p?token={SENTINEL}&sig=abc")
    )
    with pytest.raises(TransportError) as info:
        await client.get_credits()
    assert "sig=abc" not in str(info.value)
    assert SENTINEL not in str(info.value) and SENTINEL not in repr(info.value)


async def test_token_endpoint_failure_is_clean(
    settings: Settings, store: SQLiteStore, sleeps: Sleeps
) -> None:
    with respx.mock(base_url=settings.api_url) as router:
        router.post("/api/auth/anonymous-token").mock(side_effect=httpx.ConnectError("down"))
        async with NemoClient(settings, store=store, sleep=sleeps) as c:
            with pytest.raises(TransportError, match="anonymous token"):
                await c.get_credits()
