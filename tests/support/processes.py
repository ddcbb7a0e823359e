"""Subprocesses of the product: a clean environment, a free port, ``nemo-mcp serve`` on stdio,
and the ``initialize`` request a raw client opens with."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from typing import Any, Final

import httpx
from mcp import StdioServerParameters


def clean_env(env: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without NemoVideo settings from outside, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NEMO_", "SKILL_"))}
    return {**base, **(env or {}), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stdio_params(env: Mapping[str, str], **extra: str) -> StdioServerParameters:
    """``nemo-mcp serve`` over stdio in a subprocess, with a clean NemoVideo environment."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "nemo_mcp", "serve"], env=clean_env(env, **extra)
    )


# The first request of a raw client (no SDK): one JSON-RPC line on stdio, one POST over HTTP.
INITIALIZE: Final[dict[str, Any]] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
ACCEPT: Final = {"Accept": "application/json, text/event-stream"}


def post_initialize(url: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """POST :data:`INITIALIZE` to an MCP endpoint, as a streamable-HTTP client would."""
    return httpx.post(
        url, json=INITIALIZE, headers={**ACCEPT, **(headers or {})}, timeout=10, trust_env=False
    )
