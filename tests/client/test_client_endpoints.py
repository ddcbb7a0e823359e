"""Endpoints, envelopes and headers of NemoClient against a respx fake of the API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from nemo_client_helpers import ANON_USER, API, SENTINEL, WEB, Sleeps

from nemo_mcp import __version__
from nemo_mcp.api.client import NemoClient
from nemo_mcp.api.records import Credits, SessionInfo
from nemo_mcp.config import Settings
from nemo_mcp.errors import APIStatusError
from nemo_mcp.manifest import load_manifest
from nemo_mcp.store.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio

STATE = {
    "session_id": "5529798706024415232",
    "task_id": "task_1",
    "task_name": "p",
    "state": {"video_infos": [], "draft": {"t": []}},
}


def _expected_attribution() -> dict[str, str]:
    manifest = load_manifest("nemo-mcp")
    return {
        "x-skill-source": manifest.name,
        "x-skill-version": manifest.version,
        "x-skill-platform": "testplatform",
    }


async def test_code_envelope_is_unwrapped(client: NemoClient, api: respx.MockRouter) -> None:
    api.get("/api/state/nemo_agent/me/5529798706024415232/latest").respond(
        json={"code": 0, "data": STATE}
    )
    assert await client.get_state("5529798706024415232") == STATE


async def test_success_envelope_is_unwrapped(client: NemoClient, api: respx.MockRouter) -> None:
    api.get("/api/credits/balance/simple").respond(
        json={"success": True, "data": {"available": 25000, "frozen": 40, "total": 25040}}
    )
    assert await client.get_credits() == Credits(available=25000, frozen=40, total=25040)


async def test_bare_object_is_the_payload(client: NemoClient, api: respx.MockRouter) -> None:
    api.get("/api/credits/balance/simple").respond(json={"available": 7, "frozen": 3})
    assert await client.get_credits() == Credits(available=7, frozen=3, total=10)


async def test_every_request_carries_auth_and_attribution(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.get("/api/credits/balance/simple").respond(
        json={"code": 0, "data": {"available": 1, "frozen": 0, "total": 1}}
    )
    await client.get_credits()
    await client.get_credits()
    expected = _expected_attribution()
    assert client.attribution == {
        "X-Skill-Source": expected["x-skill-source"],
        "X-Skill-Version": expected["x-skill-version"],
        "X-Skill-Platform": "testplatform",
    }
    for call in route.calls:
        headers = call.request.headers
        assert headers["authorization"] == f"Bearer {SENTINEL}"
        assert headers["user-agent"] == f"nemo-mcp/{__version__}"
        for name, value in expected.items():
            assert headers[name] == value
        assert SENTINEL not in str(call.request.url)
    # the token request: no bearer, but the client id and the attribution headers
    token_request = api.routes["token"].calls[0].request
    assert "authorization" not in token_request.headers
    assert token_request.headers["x-client-id"]
    for name, value in expected.items():
        assert token_request.headers[name] == value
    assert api.routes["token"].call_count == 1  # stored and reused


async def test_platform_is_detected_when_not_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKILL_SOURCE", "from-env")
    settings = Settings(api_url=API, home=tmp_path / "s")
    async with NemoClient(settings) as c:
        assert c.attribution["X-Skill-Platform"] == "from-env"


async def test_skill_md_frontmatter_names_the_skill(tmp_path: Path) -> None:
    skill = tmp_path / "my-skill"
    skill.mkdir()
    (skill / "SKILL.md").write_text("---\nname: my-skill\nversion: 9.9.9\n---\nbody\n")
    settings = Settings(api_url=API, home=tmp_path / "s", skill_dir=skill)
    async with NemoClient(settings) as c:
        assert c.attribution["X-Skill-Source"] == "my-skill"
        assert c.attribution["X-Skill-Version"] == "9.9.9"


async def test_create_session_keeps_ids_as_strings(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post("/api/tasks/me/with-session/nemo_agent").respond(
        json={
            "code": 0,
            "data": {"task_id": "task_9", "session_id": 5529798706024415232, "user_id": ANON_USER},
        }
    )
    info = await client.create_session(language="ja", task_name="Clip")
    assert info == SessionInfo(
        session_id="5529798706024415232", task_id="task_9", user_id=ANON_USER
    )
    assert json.loads(route.calls[0].request.content) == {"task_name": "Clip", "language": "ja"}


async def test_claim_link_uses_the_claim_token_only(
    client: NemoClient, api: respx.MockRouter
) -> None:
    route = api.post("/api/auth/claim-token").respond(
        json={"code": 0, "data": {"claim_token": "clm_abc123", "expires_in": 604800}}
    )
    link = await client.claim_link("task_9", "s1")
    assert link == f"{WEB}/workspace/claim?ct=clm_abc123"
    assert SENTINEL not in link
    assert json.loads(route.calls[0].request.content) == {"task_id": "task_9", "session_id": "s1"}


async def test_upload_urls(client: NemoClient, api: respx.MockRouter) -> None:
    route = api.post("/api/upload-video/nemo_agent/me/s1").respond(
        json={
            "code": 0,
            "data": {
                "files": [
                    {
                        "filename": "v.mp4",
                        "file_type": "video",
                        "cdn_url": "https://cdn.example.com/v.mp4",
                        "duration": 30.5,
                        "width": 1920,
                        "height": 1080,
                        "fps": 30,
                        "hash": "abc123",
                    }
                ],
                "session_state_applied": True,
            },
        }
    )
    result = await client.upload_urls("s1", ["https://example.com/v.mp4"])
    body = json.loads(route.calls[0].request.content)
    assert body == {"urls": ["https://example.com/v.mp4"], "source_type": "url"}
    assert result.session_state_applied is True
    (f,) = result.files
    assert (f.filename, f.file_type, f.width, f.height, f.fps) == ("v.mp4", "video", 1920, 1080, 30)
    assert f.duration == 30.5
    assert f.extra == {"hash": "abc123"}


async def test_stored_token_is_reused_across_clients(
    settings: Settings, store: SQLiteStore, sleeps: Sleeps, api: respx.MockRouter
) -> None:
    api.get("/api/credits/balance/simple").respond(json={"available": 1, "frozen": 0})
    async with NemoClient(settings, store=store, sleep=sleeps) as c1:
        await c1.get_credits()
    async with NemoClient(settings, store=store, sleep=sleeps) as c2:
        await c2.get_credits()
        ident = await c2.identity()
    assert api.routes["token"].call_count == 1
    assert ident.source == "anonymous" and ident.user_id == ANON_USER
    assert SENTINEL not in repr(ident)


async def test_client_owns_a_default_store(tmp_path: Path) -> None:
    settings = Settings(api_url=API, home=tmp_path / "own")
    async with NemoClient(settings) as c:
        assert c.store.db_path == settings.state_db
    assert settings.state_db.exists()


async def test_api_redirects_are_not_followed(client: NemoClient, api: respx.MockRouter) -> None:
    # the client never follows redirects on API calls; a 3xx is an unexpected answer
    api.get("/api/credits/balance/simple").respond(302, headers={"location": "http://evil.test/"})
    with pytest.raises(APIStatusError) as info:
        await client.get_credits()
    assert "302" in str(info.value)
    assert not any(c.request.url.host == "evil.test" for c in api.calls)


async def test_transport_can_be_injected(settings: Settings, store: SQLiteStore) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/api/auth/anonymous-token":
            return httpx.Response(200, json={"code": 0, "data": {"token": SENTINEL}})
        return httpx.Response(200, json={"code": 0, "data": {"available": 3, "frozen": 0}})

    async with NemoClient(settings, store=store, transport=httpx.MockTransport(handler)) as c:
        assert (await c.get_credits()).available == 3
    assert seen == ["/api/auth/anonymous-token", "/api/credits/balance/simple"]
