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
    events: list[tuple[str, str]]  # (event name, data as sent) of each SSE frame, or the body

    def decoded(self) -> list[Any]:
        return [json.loads(data) for _, data in self.events]


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
                events.append((name, "\n".join(data)))
    elif response.content:
        events.append(("body", response.text))
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
    ("an unknown prompt", _request("prompts/get", {"name": "nope"}), {}),
    ("a prompt without its arguments", _request("prompts/get", {"name": "add_title"}), {}),
    ("a prompt", _request("prompts/get", {"name": "add_title", "arguments": {"text": "Hi"}}), {}),
    ("Accept: */*", _request("ping"), {"Accept": "*/*"}),
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
    (
        "a body over the limit",
        b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "'
        + b"x" * 4_200_000
        + b'"}}',
        {},
    ),
    ("a UTF-8 byte-order mark", b"\xef\xbb\xbf" + json.dumps(_request("ping")).encode(), {}),
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
    [message] = answer.decoded()
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


def _steps_server() -> NemoMCPServer:
    server = NemoMCPServer("steps")

    @server.tool()
    async def steps(ctx: Context[Any, Any]) -> str:
        for n in (1, 2):
            await ctx.report_progress(n, 2, f"step {n}")
            await ctx.info(f"did step {n}")  # deprecated in 2026-07-28, still sent before it
            await anyio.sleep(0.2)
        return "done"

    return server


STEPS = {**_call("steps", {}), "params": {"name": "steps", "_meta": {"progressToken": "t1"}}}


LOGGING_DEPRECATED = "ignore::mcp.shared.exceptions.MCPDeprecationWarning"


@pytest.mark.filterwarnings(LOGGING_DEPRECATED)
async def test_progress_and_logs_equal_the_sdks() -> None:
    ours, sdk = _steps_server(), _steps_server()
    async with (
        serving(ours.streamable_http_app(stateless_http=True)) as ours_url,
        serving(MCPServer.streamable_http_app(sdk, stateless_http=True)) as sdk_url,
        httpx.AsyncClient(trust_env=False, timeout=30) as http,
    ):
        ours_answer = await _post(http, ours_url, STEPS, {})
        sdk_answer = await _post(http, sdk_url, STEPS, {})
    assert ours_answer == sdk_answer
    progress = [m["params"] for m in ours_answer.decoded() if m.get("method", "").endswith("ss")]
    assert progress == [
        {"progressToken": "t1", "progress": 1, "total": 2, "message": "step 1"},
        {"progressToken": "t1", "progress": 2, "total": 2, "message": "step 2"},
    ]
    logs = [
        m["params"]["data"] for m in ours_answer.decoded() if m.get("method", "").endswith("ge")
    ]
    assert logs == ["did step 1", "did step 2"]
    assert ours_answer.decoded()[-1]["result"]["content"][0]["text"] == "done"


@pytest.mark.filterwarnings(LOGGING_DEPRECATED)
async def test_a_silent_handler_gets_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    from nemo_mcp.mcp import exchange

    monkeypatch.setattr(exchange, "PING_SECONDS", 0.05)
    async with (
        serving(_steps_server().streamable_http_app(stateless_http=True)) as url,
        httpx.AsyncClient(trust_env=False, timeout=30) as http,
    ):
        response = await http.post(url, content=json.dumps(STEPS).encode(), headers=HEADERS)
    assert ": ping" in response.text
    assert _answer(response).decoded()[-1]["result"]["content"][0]["text"] == "done"


async def test_json_answers_are_left_to_the_sdk(caplog: pytest.LogCaptureFixture) -> None:
    """With ``json_response=True`` nothing changes: the SDK answers, in JSON."""
    caplog.set_level(logging.DEBUG, logger="mcp.server.streamable_http_manager")
    async with (
        serving(
            _steps_server().streamable_http_app(stateless_http=True, json_response=True)
        ) as url,
        httpx.AsyncClient(trust_env=False, timeout=30) as http,
    ):
        answer = await _post(http, url, _request("tools/list"), {})
    assert answer.status == 200 and answer.content_type == "application/json"
    assert answer.decoded()[0]["result"]["tools"][0]["name"] == "steps"
    assert caplog.text.count(SDK_BUILDS_A_TRANSPORT) == 1
