"""Fault injection (grammar, control endpoint, every error code on demand, broken connections)
and the loopback-only control API."""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx
import pytest
from emu_helpers import Api, serve

from nemo_mcp.contract import headers, paths
from nemo_mcp.emulator import EmulatorServer, Fault, is_loopback
from nemo_mcp.emulator.cli import add_arguments, config_from_args
from nemo_mcp.emulator.faults import FaultBook


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("state:500", {"endpoint": "state", "action": "respond", "status": 500, "times": None}),
        ("state:500:times=2", {"status": 500, "times": 2}),
        ("token:429", {"endpoint": "token", "status": 429}),
        ("upload:4002", {"code": 4002, "status": None}),
        ("run_sse:2001:status=200", {"code": 2001, "status": 200}),
        ("credits:delay=1.5", {"action": "delay", "delay": 1.5}),
        ("credits:latency=0.2:503", {"action": "respond", "status": 503, "delay": 0.2}),
        ("run_sse:drop", {"action": "drop", "arg": None}),
        ("run_sse:drop=3", {"action": "drop", "arg": 3}),
        ("download:truncate=1000:times=1", {"action": "truncate", "arg": 1000, "times": 1}),
        ("render_submit:reset", {"action": "reset"}),
        ("run_sse:error_v1", {"action": "error_v1"}),
        ("run_sse:heartbeats_only", {"action": "heartbeats_only"}),
        ("*:503:times=1", {"endpoint": "*", "status": 503}),
        ("render_poll:fail:message=boom", {"action": "fail", "message": "boom"}),
        ("credits:hang", {"action": "hang"}),
    ],
)
def test_fault_grammar(spec: str, expected: dict[str, Any]) -> None:
    fault = Fault.parse(spec)
    for key, value in expected.items():
        assert getattr(fault, key) == value, key
    assert fault.spec == spec


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("nowhere:500", "unknown endpoint"),
        ("state", "missing action"),
        ("state:", "missing action"),
        ("state:teapot", "unknown part"),
        ("state:500:404", "more than one action"),
        ("state:99", "neither"),
        ("state:500:times=-1", "negative"),
        ("state:500:times=x", "whole number"),
        ("state:reset=3", "takes no value"),
        ("state:delay=soon", "not a number"),
    ],
)
def test_fault_grammar_errors(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Fault.parse(spec)


def test_fault_objects_and_counting() -> None:
    assert Fault.from_obj({"endpoint": "state", "status": 500, "times": 2}) == Fault.parse(
        "state:500:times=2"
    )
    assert Fault.from_obj({"spec": "token:429"}).status == 429
    assert Fault.from_obj({"endpoint": "upload", "code": 4001}).code == 4001
    assert Fault.from_obj({"endpoint": "run_sse", "action": "drop", "events": 2}).arg == 2
    book = FaultBook()
    book.add("state:500:times=2", "*:503:times=1", "credits:delay=0.1")
    assert book.take("state") is not None
    assert book.take("state") is not None
    taken = book.take("state")
    assert taken is not None and taken.status == 503  # then the catch-all
    assert book.take("state") is None
    assert book.take("credits") is not None and book.take("credits") is not None  # always
    book.clear("credits")
    assert book.list() == []


@pytest.mark.anyio
async def test_faults_through_the_control_endpoint(api: Api) -> None:
    await api.login()
    r = await api.client.post("/_emulator/faults", json={"faults": ["credits:500:times=2"]})
    assert r.status_code == 200
    assert r.json()["data"]["faults"][0]["times"] == 2
    for _ in range(2):
        r = await api.client.get(paths.CREDITS, headers=api.headers())
        assert r.status_code == 500
        assert r.json()["code"] == 500
    r = await api.client.get(paths.CREDITS, headers=api.headers())
    assert r.status_code == 200
    await api.client.post("/_emulator/faults", json={"endpoint": "credits", "status": 503})
    assert (await api.client.get("/_emulator/faults")).json()["data"]["faults"]
    r = await api.client.delete("/_emulator/faults")
    assert r.json()["data"]["faults"] == []
    assert (await api.client.get(paths.CREDITS, headers=api.headers())).status_code == 200
    r = await api.client.post("/_emulator/faults", json={"faults": ["bogus:1"]})
    assert r.status_code == 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("spec", "status", "code"),
    [
        ("state:1001", 401, 1001),
        ("state:1002", 404, 1002),
        ("run_sse:2001", 402, 2001),
        ("upload:4001", 400, 4001),
        ("upload:4002", 413, 4002),
        ("render_submit:402", 402, 402),
        ("token:429", 429, 429),
        ("credits:500", 500, 500),
        ("*:503", 503, 503),
        ("state:2001:status=200", 200, 2001),
    ],
)
async def test_every_error_code_on_demand(
    api: Api, emu: EmulatorServer, spec: str, status: int, code: int
) -> None:
    sid = await api.new_session()
    emu.set_faults(spec + ":times=1")
    endpoint = spec.split(":")[0]
    calls = {
        "state": ("GET", paths.fill(paths.STATE, session_id=sid), None),
        "run_sse": ("POST", paths.RUN_SSE, {"session_id": sid}),
        "upload": ("POST", paths.fill(paths.UPLOAD, session_id=sid), {"urls": ["file:///a.mp4"]}),
        "render_submit": ("POST", paths.RENDER, {}),
        "token": ("POST", paths.ANON_TOKEN, None),
        "credits": ("GET", paths.CREDITS, None),
        "*": ("GET", paths.CREDITS, None),
    }
    method, path, body = calls[endpoint]
    r = await api.client.request(method, path, headers=api.headers(), json=body)
    assert r.status_code == status
    assert r.json()["code"] == code
    if endpoint == "render_submit":
        assert r.json()["success"] is False
    assert emu.requests(path=path)[-1].fault == spec + ":times=1"


@pytest.mark.anyio
async def test_latency(api: Api, emu: EmulatorServer) -> None:
    await api.login()
    emu.set_faults("credits:delay=0.4:times=1")
    began = time.monotonic()
    r = await api.client.get(paths.CREDITS, headers=api.headers())
    assert r.status_code == 200
    assert time.monotonic() - began >= 0.4


@pytest.mark.anyio
async def test_connection_reset(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    emu.set_faults("state:reset:times=1")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await api.client.get(paths.fill(paths.STATE, session_id=sid), headers=api.headers())
    assert (await api.state(sid))["draft"] is None  # and then it works again


@pytest.mark.anyio
async def test_truncated_json_body(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    emu.set_faults("state:truncate:times=1")
    with pytest.raises(httpx.RemoteProtocolError):
        await api.client.get(paths.fill(paths.STATE, session_id=sid), headers=api.headers())


@pytest.mark.anyio
async def test_hang_until_the_client_gives_up(api: Api, emu: EmulatorServer) -> None:
    await api.login()
    emu.set_faults("credits:hang:times=1")
    with pytest.raises(httpx.ReadTimeout):
        await api.client.get(paths.CREDITS, headers=api.headers(), timeout=0.3)


@pytest.mark.anyio
async def test_run_sse_faults(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    emu.set_faults("run_sse:drop=1:times=1")
    s = await api.chat(sid, "generate a 3-second background track")
    assert isinstance(s.error, httpx.RemoteProtocolError)
    assert len(s.events) == 1
    emu.set_faults("run_sse:error_v2:times=1")
    s = await api.chat(sid, "trim to 2 seconds")
    assert '"error_details"' in s.data[-1]
    emu.set_faults("run_sse:heartbeats_only:times=1")
    s = await api.chat(sid, "trim to 2 seconds", give_up_after=0.3)
    assert s.events == [] and s.lines.count(": ping") >= 2
    assert len(emu.requests(endpoint="run_sse")) == 3  # each message was POSTed once


def _parse_cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_flags_make_a_config(tmp_path: Any) -> None:
    args = _parse_cli(
        "--fault",
        "run_sse:drop",
        "--fault",
        "state:500:times=2",
        "--stream",
        "adk_snake,hb=empty",
        "--poll-shape",
        "success",
        "--data",
        str(tmp_path),
        "--token",
        "nmv_usr_mine_1234567890",
        "--generation-seconds",
        "0.5",
        "--no-attribution-check",
        "--render-max-side",
        "640",
    )
    cfg = config_from_args(args)
    assert cfg.faults == ("run_sse:drop", "state:500:times=2")
    assert cfg.stream == "adk_snake,hb=empty"
    assert cfg.poll_shape == "success"
    assert cfg.data_dir == tmp_path
    assert cfg.registered_tokens == ("nmv_usr_mine_1234567890",)
    assert cfg.generation_seconds == 0.5
    assert cfg.require_attribution is False
    assert cfg.render_max_side == 640
    with pytest.raises(SystemExit):
        _parse_cli("--fault", "state:teapot")
    with pytest.raises(SystemExit):
        _parse_cli("--stream", "sideways")


@pytest.mark.anyio
async def test_cli_faults_are_active_at_start() -> None:
    args = _parse_cli("--fault", "credits:500:times=1", "--fault", "token:429:times=1")
    async with serve(faults=config_from_args(args).faults) as api:
        r = await api.client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "x"})
        assert r.status_code == 429
        await api.login("x")
        r = await api.client.get(paths.CREDITS, headers=api.headers())
        assert r.status_code == 500
        assert (await api.credits())["available"] == 100


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.5", False),
        ("192.168.1.2", False),
        ("::ffff:8.8.8.8", False),
        (None, False),
        ("testclient", False),
    ],
)
def test_is_loopback(host: str | None, allowed: bool) -> None:
    assert is_loopback(host) is allowed


@pytest.mark.anyio
async def test_control_api_refuses_other_clients() -> None:
    seen: list[str | None] = []

    def remote(host: str | None) -> bool:
        seen.append(host)
        return False

    async with (
        EmulatorServer(control_allowed=remote) as emu,
        httpx.AsyncClient(base_url=emu.url, trust_env=False) as client,
    ):
        for method, path in [
            ("GET", "/_emulator/config"),
            ("POST", "/_emulator/faults"),
            ("GET", "/_emulator/requests"),
            ("POST", "/_emulator/reset"),
            ("GET", "/_emulator/state"),
            ("POST", "/_emulator/tokens/expire"),
            ("DELETE", "/_emulator/sessions/1"),
        ]:
            r = await client.request(method, path, json={})
            assert r.status_code == 403, path
            assert r.json()["code"] == 403
        # the contract endpoints are not affected
        r = await client.post(paths.ANON_TOKEN, headers={headers.CLIENT_ID: "c"})
        assert r.status_code == 200
    assert seen and set(seen) == {"127.0.0.1"}


@pytest.mark.anyio
async def test_control_config(api: Api, emu: EmulatorServer) -> None:
    r = await api.client.get("/_emulator/config")
    assert r.json()["data"]["stream"] == "adk"
    r = await api.client.post(
        "/_emulator/config", json={"stream": "typed", "silent_edits": "always", "edit_cost": 7}
    )
    data = r.json()["data"]
    assert (data["stream"], data["silent_edits"], data["edit_cost"]) == ("typed", "always", 7)
    assert emu.config.stream == "typed"
    for bad in ({"stream": "sideways"}, {"poll_shape": "round"}, {"nope": 1}, {"data_dir": "/x"}):
        r = await api.client.post("/_emulator/config", json=bad)
        assert r.status_code == 400, bad
    sid = await api.new_session()
    s = await api.chat(sid, "hello")
    assert s.events[0]["type"] == "text"


@pytest.mark.anyio
async def test_recorded_requests(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    await api.state(sid)
    await api.chat(sid, "hello")
    r = await api.client.get("/_emulator/requests", params={"endpoint": "state"})
    (rec,) = r.json()["data"]["requests"]
    assert rec["path"] == paths.fill(paths.STATE, session_id=sid)
    assert rec["status"] == 200
    assert rec["headers"]["x-skill-source"] == "nemo-mcp"
    assert rec["headers"]["x-skill-platform"] == "mcp"
    assert api.token is not None
    assert api.token not in rec["headers"]["authorization"]  # masked over HTTP
    # in process the records are complete, and no token ever travelled in a URL
    records = emu.requests()
    assert any(r.header("authorization") == f"Bearer {api.token}" for r in records)
    assert all(api.token not in r.url for r in records)
    assert [r.endpoint for r in emu.requests(path=paths.RUN_SSE)] == ["run_sse"]
    await api.client.delete("/_emulator/requests")
    assert emu.requests(endpoint="state") == []


@pytest.mark.anyio
async def test_control_helpers(api: Api, emu: EmulatorServer) -> None:
    sid = await api.new_session()
    r = await api.client.post("/_emulator/credits", json={"token": api.token, "available": 42})
    assert r.json()["data"]["available"] == 42
    assert (await api.credits())["available"] == 42
    snap = (await api.client.get("/_emulator/state")).json()["data"]
    assert snap["sessions"][0]["session_id"] == sid
    assert api.token not in str(snap)
    r = await api.client.delete(f"/_emulator/sessions/{sid}")
    assert r.status_code == 200
    r = await api.client.get(paths.fill(paths.STATE, session_id=sid), headers=api.headers())
    assert r.json()["code"] == 1002
    r = await api.client.post("/_emulator/tokens/expire", json={})
    assert r.json()["data"]["expired"] == 1
    r = await api.client.get(paths.CREDITS, headers=api.headers())
    assert r.json()["code"] == 1001
    await api.login()
    r = await api.client.post("/_emulator/reset")
    assert r.status_code == 200
    r = await api.client.get(paths.CREDITS, headers=api.headers())
    assert r.json()["code"] == 1001  # tokens are forgotten too
    assert emu.config.anon_credits == 10_000  # settings are back to the start


@pytest.mark.anyio
async def test_unknown_paths_are_json(api: Api) -> None:
    r = await api.client.get("/api/v1/generate")
    assert r.status_code == 404
    assert r.json()["code"] == 404
    r = await api.client.get(paths.RUN_SSE)
    assert r.status_code == 405
