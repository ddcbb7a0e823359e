"""Stateless HTTP serves a handshake-era request as one exchange (``mcp/exchange.py``) and answers
exactly as the SDK's connection-per-request path does.

Two servers on one state folder and one emulator, each on its own uvicorn socket in this
process: ours (``NemoMCPServer.streamable_http_app``) and the same server on the SDK's own app
(``MCPServer.streamable_http_app``). The same raw POSTs go to both: requests served here
(tools, lists, errors, unknown methods, no version header) and requests the SDK keeps
(``initialize``, notifications, batches, bad JSON, wrong media types, a foreign Host, an
unsupported version). Status, content type and every event's data must be equal, and the SDK's
per-request transport must be built only where the SDK answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from starlette.applications import Starlette

from nemo_mcp.config import Settings
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.mcp.base import NemoMCPServer
from nemo_mcp.mcp.server import build_server
from support.emulator import FAST
from support.processes import INITIALIZE, free_port

pytestmark = pytest.mark.anyio

LEGACY = "2025-11-25"
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": LEGACY,
}
SDK_BUILDS_A_TRANSPORT = "Stateless mode: Creating new transport for this request"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    events: list[tuple[str, Any]]  # (event name, decoded data) of each SSE frame, or the JSON


def _answer(response: httpx.Response) -> Answer:
    kind = response.headers.get("content-type", "").split(";")[0]
    events: list[tuple[str, Any]] = []
    if kind == "text/event-stream":
        for frame in response.text.replace("\r\n", "\n").split("\n\n"):
            name, data = "message", []
            for line in frame.split("\n"):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
            if data:
                events.append((name, json.loads("\n".join(data))))
    elif response.content:
        try:
            events.append(("json", response.json()))
        except ValueError:
            events.append(("text", response.text))
    return Answer(response.status_code, kind, events)


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """``app`` on uvicorn on a free loopback port in this event loop; yields its MCP URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(30):
            while not server.started:  # noqa: ASYNC110 (uvicorn gives a flag, no event)
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            server.should_exit = True


@pytest.fixture
async def both(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(ours, the SDK's): the same server twice, on one state folder and one emulator."""
    with EmulatorServer(**FAST) as emu:
        settings = Settings.from_env(
            {
                "NEMO_API_URL": emu.url,
                "NEMO_MCP_HOME": str(tmp_path / "state"),
                "NEMO_MCP_OUTPUT_DIR": str(tmp_path / "out"),
            }
        )
        ours = build_server(settings, save_tool_list=False)
        sdk = build_server(settings, save_tool_list=False)
        assert isinstance(ours, NemoMCPServer)
        async with (
            serving(ours.streamable_http_app(stateless_http=True)) as ours_url,
            serving(MCPServer.streamable_http_app(sdk, stateless_http=True)) as sdk_url,
        ):
            yield ours_url, sdk_url


def _call(name: str, arguments: dict[str, Any], id_: int = 7) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": id_,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def _request(method: str, params: dict[str, Any] | None = None, id_: int = 7) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, **({"params": params} if params else {})}


# (what, body, header changes): the requests served as one exchange
SERVED: list[tuple[str, Any, dict[str, str]]] = [
    ("ping", _request("ping"), {}),
    ("tools/list", _request("tools/list"), {}),
    ("a tool call", _call("nemo_get_credits", {}), {}),
    ("a call with a string id", _call("nemo_get_credits", {}, "abc"), {}),  # type: ignore[arg-type]
    ("an unknown tool", _call("nemo_nope", {}), {}),
    ("arguments that fail the schema", _call("nemo_get_state", {"session_id": 5}), {}),
    ("an unknown resource", _request("resources/read", {"uri": "nemo://nope"}), {}),
    ("an unknown method", _request("nope/nope"), {}),
    ("prompts/list", _request("prompts/list"), {}),
    ("no version header", _request("tools/list"), {"MCP-Protocol-Version": ""}),
    ("an older version", _request("ping"), {"MCP-Protocol-Version": "2025-03-26"}),
]
# the requests the SDK keeps answering itself
KEPT: list[tuple[str, Any, dict[str, str]]] = [
    ("initialize", INITIALIZE, {}),
    ("a notification", {"jsonrpc": "2.0", "method": "notifications/initialized"}, {}),
    ("a batch", [_request("ping", id_=1), _request("ping", id_=2)], {}),
    ("a response", {"jsonrpc": "2.0", "id": 3, "result": {}}, {}),
    ("bad JSON", b"{not json", {}),
    ("a request without a method", {"jsonrpc": "2.0", "id": 4}, {}),
    ("text/plain", _request("ping"), {"Content-Type": "text/plain"}),
    ("JSON answers only", _request("ping"), {"Accept": "application/json"}),
    ("a foreign Host", _call("nemo_get_credits", {}), {"Host": "evil.example"}),
    ("a foreign Origin", _call("nemo_get_credits", {}), {"Origin": "http://evil.example"}),
    ("an unsupported version", _request("ping"), {"MCP-Protocol-Version": "1999-01-01"}),
]


async def _post(http: httpx.AsyncClient, url: str, body: Any, changes: dict[str, str]) -> Answer:
    headers = {k: v for k, v in {**HEADERS, **changes}.items() if v}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return _answer(await http.post(url, content=content, headers=headers))


@pytest.mark.parametrize(("what", "body", "changes"), SERVED + KEPT, ids=lambda v: v)
async def test_answers_equal_the_sdks(
    both: tuple[str, str],
    what: str,
    body: Any,
    changes: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ours_url, sdk_url = both
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        await _post(http, ours_url, _call("nemo_get_credits", {}), {})  # the token, once
        caplog.set_level(logging.DEBUG, logger="mcp.server.streamable_http_manager")
        caplog.clear()
        ours = await _post(http, ours_url, body, changes)
        built_for_ours = caplog.text.count(SDK_BUILDS_A_TRANSPORT)
        sdk = await _post(http, sdk_url, body, changes)
        built_for_sdk = caplog.text.count(SDK_BUILDS_A_TRANSPORT) - built_for_ours
    assert ours == sdk, what
    served = (what, body, changes) in SERVED
    assert built_for_ours == (0 if served else built_for_sdk), what
    if served:
        assert built_for_sdk == 1, what
        assert ours.content_type == "text/event-stream" and ours.status == 200, ours
        assert [name for name, _ in ours.events] == ["message"], ours


async def test_a_tool_result_reads_as_before(both: tuple[str, str]) -> None:
    """The one request a model meets most, checked by its content rather than by equality."""
    ours_url, _ = both
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        answer = await _post(http, ours_url, _call("nemo_get_credits", {}), {})
    [(_, message)] = answer.events
    assert message["id"] == 7 and message["jsonrpc"] == "2.0"
    result = message["result"]
    assert result["isError"] is False
    assert "credit" in result["content"][0]["text"].lower()
    assert "Next:" in result["content"][0]["text"]


async def test_a_client_that_disconnects_cancels_its_request() -> None:
    started, cancelled = anyio.Event(), anyio.Event()
    server = NemoMCPServer("slow")

    @server.tool()
    async def wait_long() -> str:
        started.set()
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise
        return "finished"

    async with (
        serving(server.streamable_http_app(stateless_http=True)) as url,
        httpx.AsyncClient(trust_env=False, timeout=30) as http,
    ):
        body = json.dumps(_call("wait_long", {})).encode()
        async with http.stream("POST", url, content=body, headers=HEADERS) as response:
            assert response.headers["content-type"] == "text/event-stream"
            with anyio.fail_after(10):
                await started.wait()
        with anyio.fail_after(10):
            await cancelled.wait()


async def test_progress_and_pings_reach_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress notifications come before the answer; a silent handler gets comment pings."""
    from nemo_mcp.mcp import exchange

    monkeypatch.setattr(exchange, "PING_SECONDS", 0.05)
    server = NemoMCPServer("steps")

    @server.tool()
    async def steps(ctx: Context[Any, Any]) -> str:
        for n in (1, 2):
            await ctx.report_progress(n, 2, f"step {n}")
            await anyio.sleep(0.2)
        return "done"

    request = _call("steps", {})
    request["params"]["_meta"] = {"progressToken": "t1"}
    async with (
        serving(server.streamable_http_app(stateless_http=True)) as url,
        httpx.AsyncClient(trust_env=False, timeout=30) as http,
    ):
        response = await http.post(url, content=json.dumps(request).encode(), headers=HEADERS)
    answer = _answer(response)
    progress = [data["params"] for _, data in answer.events if data.get("method")]
    assert progress == [
        {"progressToken": "t1", "progress": 1, "total": 2, "message": "step 1"},
        {"progressToken": "t1", "progress": 2, "total": 2, "message": "step 2"},
    ]
    assert answer.events[-1][1]["result"]["content"][0]["text"] == "done"
    assert ": ping" in response.text
