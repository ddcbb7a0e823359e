"""Prometheus metrics for a hosted worker (``/metrics``): tool calls and their latency by tool
and outcome, upstream (NemoVideo) errors by kind, and jobs by state across every worker (read
from the shared database when scraped). Nothing user-specific is a label."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from mcp.server.mcpserver import MCPServer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

# Error kinds that mean NemoVideo (or the way to it) failed, not the caller.
_KIND = re.compile(r"Error \((\w+)\)")  # an error result's first line: Error (<kind>): ...
UPSTREAM_KINDS = frozenset(
    {
        "api_error",
        "server_error",
        "rate_limited",
        "connection",
        "timeout",
        "stream",
        "outcome_unknown",
    }
    | {"stream_interrupted", "stream_timeout", "answer_too_large", "render_submit_unknown"}
)


class _Jobs(Collector):
    def __init__(self, studios: Callable[[], Any]) -> None:
        self._studios = studios

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "nemo_mcp_jobs",
            "Chat turns and renders by state (all workers).",
            labels=["kind", "state"],
        )
        studios = self._studios()
        if studios is not None:
            try:
                counts = studios.database.job_counts()
            except Exception:  # a scrape during a database restart shows no jobs
                counts = {}
            for (kind, state), n in sorted(counts.items()):
                family.add_metric([kind, state], n)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "nemo_mcp_tool_calls",
            "Tool calls by tool and outcome.",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nemo_mcp_tool_seconds",
            "Tool call latency by tool.",
            ["tool"],
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.upstream = Counter(
            "nemo_mcp_upstream_errors",
            "NemoVideo errors met, by kind.",
            ["kind"],
            registry=self.registry,
        )

    def upstream_error(self, kind: str) -> None:
        self.upstream.labels(kind=kind).inc()

    def instrument(self, mcp: MCPServer, studios: Callable[[], Any]) -> None:
        """Count and time every tool call, and collect jobs by state at each scrape."""
        self.registry.register(_Jobs(studios))
        inner = mcp.call_tool
        known = {t.name for t in mcp._tool_manager.list_tools()}

        async def call_tool(name: str, arguments: dict[str, Any], context: Any = None) -> Any:
            tool = name if name in known else "unknown"
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await inner(name, arguments, context)
                if getattr(result, "is_error", False):
                    content = getattr(result, "content", None) or [None]
                    found = _KIND.match(getattr(content[0], "text", "") or "")
                    if found and found.group(1) in UPSTREAM_KINDS:
                        self.upstream_error(found.group(1))
                else:
                    outcome = "ok"
                return result
            finally:
                self.calls.labels(tool=tool, outcome=outcome).inc()
                self.latency.labels(tool=tool).observe(time.perf_counter() - started)

        mcp.call_tool = call_tool  # type: ignore[method-assign]

    def render(self, _studios: Any) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
