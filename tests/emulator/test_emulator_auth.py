"""Tokens, sessions, claim tokens, credits, and the 1001 / 1002 / 400 / 429 answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import anyio
import httpx
import pytest
from emu_helpers import ATTRIBUTION, Api, serve

from nemo_mcp.contract import codes, headers, paths
from nemo_mcp.emulator import EmulatorServer


@pytest.mark.anyio
async def test_token_requires_client_id(api: Api) -> None:
    r = await api.client.post(paths.ANON_TOKEN)
    assert r.status_code == 400
    assert r.json()["code"] == 400
    assert "X-Client-Id" in r.json()["message"]
    r = await api.client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "x" * 65})
    assert r.status_code == 400


@pytest.mark.anyio
async def test_token_shape_and_default_credits() -> None:
    async with (
        EmulatorServer() as emu,
        httpx.AsyncClient(base_url=emu.url, trust_env=False) as client,
    ):
        r = await client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "client-1"})
        token = r.json()["data"]["token"]
        credits = await client.get(paths.CREDITS, headers={"Authorization": f"Bearer {token}"})
    assert credits.json() == {"code": 0, "data": {"available": 100, "frozen": 0, "total": 100}}
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == 0
    data = body["data"]
    assert re.fullmatch(r"nmv_usr_[A-Za-z0-9_-]{20,}", data["token"])
    assert re.fullmatch(r"anon_[0-9a-f]+", data["user_id"])
    assert data["credits"] == 100
    expires = datetime.strptime(data["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    days = (expires - datetime.now(UTC)).total_seconds() / 86400
    assert 6.9 < days <= 7.0


@pytest.mark.anyio
async def test_second_token_for_same_client_is_429(api: Api) -> None:
    first = await api.login("same-client")
    r = await api.client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "same-client"})
    assert r.status_code == 429
    assert r.json()["code"] == 429
    assert int(r.headers["Retry-After"]) > 6 * 86400
    # another client id is fine
    other = await api.login("other-client")
    assert other != first


@pytest.mark.anyio
async def test_new_token_after_the_previous_expired(api: Api, emu: EmulatorServer) -> None:
    first = await api.login("expiring-client")
    user = emu.user_of(first)
    r = await api.client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "expiring-client"})
    assert r.status_code == 429
    r = await api.client.post("/_emulator/tokens/expire", json={"token": first})
    assert r.json()["data"]["expired"] == 1
    # the old token is now refused everywhere...
    r = await api.client.get(paths.CREDITS, headers=api.headers(first))
    assert r.status_code == 401
    assert r.json()["code"] == codes.TOKEN_INVALID
    # ...and the same client id gets a new one, for the same anonymous user
    r = await api.client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "expiring-client"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["token"] != first
    assert data["user_id"] == user.user_id


@pytest.mark.anyio
async def test_per_ip_limit() -> None:
    async with serve(anon_tokens_per_ip=2) as api:
        client = api.client
        for i in range(2):
            r = await client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: f"c{i}"})
            assert r.status_code == 200
        r = await client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "c9"})
        assert r.status_code == 429
        assert "address" in r.json()["message"]


@pytest.mark.anyio
async def test_token_lifetime_is_configurable() -> None:
    async with serve(token_lifetime=0.3) as api:
        client = api.client
        await api.login("short")
        assert (await api.credits())["available"] == 100
        await anyio.sleep(0.5)
        r = await client.get(paths.CREDITS, headers=api.headers())
        assert r.status_code == 401
        assert r.json()["code"] == 1001
        # expired: the same client id may get a new token at once
        await api.login("short")
        assert (await api.credits())["available"] == 100


def _authenticated_calls(sid: str) -> list[tuple[str, str, dict[str, object] | None]]:
    return [
        ("POST", paths.CREATE_SESSION, {"task_name": "p", "language": "en"}),
        ("POST", paths.CLAIM_TOKEN, {"session_id": sid}),
        ("GET", paths.CREDITS, None),
        ("GET", paths.fill(paths.STATE, session_id=sid), None),
        (
            "POST",
            paths.fill(paths.UPLOAD, session_id=sid),
            {"urls": ["file:///x.mp4"], "source_type": "url"},
        ),
        ("POST", paths.RENDER, {"id": "r", "sessionId": sid, "draft": {}}),
        ("GET", paths.fill(paths.RENDER_STATUS, render_id="r"), None),
        ("POST", paths.fill(paths.RENDER_CANCEL, render_id="r"), None),
        ("GET", paths.fill(paths.RENDER_DOWNLOAD, render_id="r"), None),
        (
            "POST",
            paths.RUN_SSE,
            {
                "app_name": "nemo_agent",
                "user_id": "me",
                "session_id": sid,
                "new_message": {"parts": [{"text": "hi"}]},
            },
        ),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("token", [None, "nmv_usr_unknown", "expired"])
async def test_1001_on_every_authenticated_endpoint(
    api: Api, emu: EmulatorServer, token: str | None
) -> None:
    sid = await api.new_session()
    if token == "expired":
        token = api.token
        emu.expire_token(token)
    for method, path, body in _authenticated_calls(sid):
        sent = dict(ATTRIBUTION)
        if token:
            sent["Authorization"] = f"Bearer {token}"
        r = await api.client.request(method, path, headers=sent, json=body)
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert r.json()["code"] == codes.TOKEN_INVALID, path


@pytest.mark.anyio
async def test_1001_can_answer_http_200(api: Api, emu: EmulatorServer) -> None:
    emu.set_config(error_status="200")
    r = await api.client.get(paths.CREDITS, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 200
    assert r.json()["code"] == 1001


@pytest.mark.anyio
async def test_registered_token() -> None:
    async with serve(registered_tokens=("nmv_usr_registered_token_1234",)) as api:
        client = api.client
        api.token = "nmv_usr_registered_token_1234"
        sid = await api.new_session()
        assert (await api.credits())["available"] == 25_000
        r = await client.get(paths.fill(paths.STATE, session_id=sid), headers=api.headers())
        assert r.json()["data"]["user_id"].startswith("usr_")


@pytest.mark.anyio
async def test_session_shape(api: Api) -> None:
    await api.login()
    r = await api.client.post(
        paths.CREATE_SESSION,
        headers=api.headers(),
        json={"task_name": "My Video Project", "language": "zh-CN"},
    )
    data = r.json()["data"]
    assert r.json()["code"] == 0
    assert re.fullmatch(r"\d{19}", data["session_id"])
    assert isinstance(data["session_id"], str)
    assert data["task_id"].startswith("task_")
    assert data["user_id"].startswith("anon_")
    state = await api.client.get(
        paths.fill(paths.STATE, session_id=data["session_id"]), headers=api.headers()
    )
    body = state.json()["data"]
    assert body["task_name"] == "My Video Project"
    assert body["task_id"] == data["task_id"]
    assert body["state"]["draft"] is None
    assert body["state"]["video_infos"] == []
    assert body["state"]["generated_media"] == []
    assert body["state"]["video_analyses"] == {}
    assert body["state"]["canvas_config"]["width"] == 1920


@pytest.mark.anyio
async def test_unknown_session_is_1002_everywhere(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    ghost = "1234567890123456789"
    r = await api.client.get(paths.fill(paths.STATE, session_id=ghost), headers=api.headers())
    assert (r.status_code, r.json()["code"]) == (404, 1002)
    r = await api.upload(ghost, *[])
    assert r.json()["code"] == 1002
    r = await api.client.post(paths.CLAIM_TOKEN, headers=api.headers(), json={"session_id": ghost})
    assert r.json()["code"] == 1002
    r = await api.client.post(
        paths.RENDER,
        headers=api.headers(),
        json={"id": "r1", "sessionId": ghost, "draft": {"t": [{"tt": 0, "sg": [{"d": 1}]}]}},
    )
    assert r.json()["code"] == 1002
    # /run_sse answers like ADK: HTTP 404 before any stream
    stream = await api.chat(ghost, "hello")
    assert stream.status == 404
    assert stream.headers["content-type"].startswith("application/json")
    assert b"Session not found: " + ghost.encode() in stream.body
    # a deleted session is gone too
    assert emu.delete_session(sid)
    r = await api.client.get(paths.fill(paths.STATE, session_id=sid), headers=api.headers())
    assert r.json()["code"] == 1002


@pytest.mark.anyio
async def test_another_users_session_is_1002(api: Api) -> None:
    sid = await api.new_session()
    await api.login()  # a different anonymous user
    r = await api.client.get(paths.fill(paths.STATE, session_id=sid), headers=api.headers())
    assert r.json()["code"] == 1002


@pytest.mark.anyio
async def test_claim_token(api: Api) -> None:
    sid = await api.new_session()
    state = await api.client.get(paths.fill(paths.STATE, session_id=sid), headers=api.headers())
    task_id = state.json()["data"]["task_id"]
    r = await api.client.post(
        paths.CLAIM_TOKEN,
        headers=api.headers(),
        json={"task_id": task_id, "session_id": sid},
    )
    data = r.json()["data"]
    assert data["claim_token"].startswith("clm_")
    assert data["expires_in"] == 604800
    again = await api.client.post(
        paths.CLAIM_TOKEN,
        headers=api.headers(),
        json={"task_id": task_id, "session_id": sid},
    )
    assert again.json()["data"]["claim_token"] == data["claim_token"]  # reusable
    page = await api.client.get("/workspace/claim", params={"ct": data["claim_token"]})
    assert page.status_code == 200
    assert sid in page.text
    r = await api.client.post(paths.CLAIM_TOKEN, headers=api.headers(), json={})
    assert r.status_code == 400
