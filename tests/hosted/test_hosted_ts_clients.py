"""A hosted worker driven by the TypeScript SDK clients hosts embed (1.x, and 2.x on the
2026-07-28 revision), configured with a bearer token as a host does: without it they are turned
away; with it they list the tools and work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from workers import cluster, user_token

from nemo_mcp.emulator import EmulatorServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))  # the shared driver
from node_clients import DriverError, TsClient, text_of

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sdk", ["v1", "v2-modern"])
def test_typescript_clients_with_a_bearer(root: Path, emu: EmulatorServer, sdk: str) -> None:
    with cluster(root, emu) as group:
        worker = group.start("w1")
        token = user_token(emu)
        with TsClient(sdk, {"NEMO_TEST_BEARER": token}, url=worker.url) as ts:
            names = {t["name"] for t in ts.ok("list_tools")["tools"]}
            assert {"nemo_chat", "nemo_export", "nemo_upload_link"} <= names
            new = ts.call("nemo_new_session", {"title": f"from {sdk}"})
            assert "session" in text_of(new).lower()
            credits = ts.call("nemo_get_credits", {})
            assert credits["structuredContent"]["available"] > 0
        with (
            pytest.raises(DriverError) as refused,
            TsClient(sdk, {}, url=worker.url, timeout=30) as bare,
        ):
            bare.ok("list_tools")
        assert "401" in str(refused.value) or "nauthorized" in str(refused.value), refused.value
        assert token not in group.logs()
