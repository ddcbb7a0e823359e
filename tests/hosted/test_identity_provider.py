"""OAuth 2.1 resource server mode (NEMO_MCP_AUTH=jwt): access tokens from an identity provider
(a real RSA key, its JWKS served over HTTP) are checked for signature, issuer, audience and
expiry; a user links their NemoVideo account once, then works; nothing else gets in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from workers import cluster, media_server, user_client, user_token

from nemo_mcp.emulator import EmulatorServer
from support.results import ToolClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ISSUER = "https://id.example.test"


class Provider:
    def __init__(self, folder: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="k1", use="sig", alg="RS256")
        (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}))

    def token(self, sub: str, audience: str, **changes: Any) -> str:
        claims = {"iss": ISSUER, "sub": sub, "aud": audience, "exp": int(time.time()) + 300}
        claims.update(changes)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[tuple[Provider, str]]:
    folder = tmp_path / "idp"
    folder.mkdir()
    provider = Provider(folder)
    with media_server(folder) as base:
        yield provider, f"{base}/jwks.json"


async def test_identity_provider_tokens(
    root: Path, emu: EmulatorServer, idp: tuple[Provider, str]
) -> None:
    provider, jwks = idp
    settings = {
        "NEMO_MCP_AUTH": "jwt",
        "NEMO_MCP_JWT_ISSUER": ISSUER,
        "NEMO_MCP_JWT_JWKS_URL": jwks,
    }
    http = httpx.AsyncClient(trust_env=False)
    with cluster(root, emu, **settings) as group:
        worker = group.start("w1")
        audience = worker.url  # the default audience: the public URL
        good = provider.token("alice", audience)
        for bad in (
            provider.token("alice", "https://another.example/mcp"),  # another audience
            provider.token("alice", audience, iss="https://evil.example"),
            provider.token("alice", audience, exp=int(time.time()) - 10),
            good[:-4] + "AAAA",  # a forged signature
        ):
            r = await http.post(
                worker.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={"Authorization": f"Bearer {bad}", "Accept": "application/json"},
            )
            assert r.status_code == 401, bad
        async with user_client(worker.url, good) as client:
            mcp = ToolClient(client)
            await mcp.load_schemas()
            unlinked = await mcp.call("nemo_get_credits", {})
            assert unlinked.is_error and "/link" in unlinked.text
            nemo = user_token(emu)
            linked = await http.post(
                worker.base + "/link",
                json={"nemovideo_token": nemo},
                headers={"Authorization": f"Bearer {good}"},
            )
            assert linked.status_code == 200, linked.text
            refused = await http.post(
                worker.base + "/link",
                json={"nemovideo_token": "nmv_usr_wrong_000000"},
                headers={"Authorization": f"Bearer {good}"},
            )
            assert refused.status_code == 400
            credits = await mcp.ok("nemo_get_credits", {})
            assert credits.data["available"] > 0
            # linking again (another NemoVideo account) takes effect at the next request
            other = user_token(emu)
            relinked = await http.post(
                worker.base + "/link",
                json={"nemovideo_token": other},
                headers={"Authorization": f"Bearer {good}"},
            )
            assert relinked.status_code == 200
            await mcp.ok("nemo_get_credits", {})
            last = emu.requests(endpoint="credits")[-1]
            assert last.header("authorization") == f"Bearer {other}"
        assert nemo not in group.logs() and good not in group.logs()
    await http.aclose()
