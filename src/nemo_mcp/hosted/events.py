"""Resource updates across workers: the SDK's ``SubscriptionBus`` over Redis pub/sub
(``NEMO_MCP_REDIS_URL``).

Every worker publishes what changed (a session's timeline, a render's status) to one Redis
channel and delivers what the others publish to its own ``subscriptions/listen`` streams, so a
client listening on one worker hears about a render another worker finished. Events are only
resource URIs: no user data crosses Redis. Redis is a fast path, not a dependency: while it is
down, events still reach this worker's own listeners, the bus reconnects by itself, and clients
see other workers' changes when they read or wait (the database is the truth).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.subscriptions import InMemorySubscriptionBus, ServerEvent
from mcp.shared.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)

log = logging.getLogger(__name__)

CHANNEL = "nemo-mcp:events"
RECONNECT_SECONDS = 1.0


def encode(event: ServerEvent, origin: str) -> str:
    if isinstance(event, ResourceUpdated):
        return json.dumps({"origin": origin, "kind": "resource", "uri": event.uri})
    return json.dumps({"origin": origin, "kind": type(event).__name__})


def decode(text: str | bytes) -> tuple[str, ServerEvent] | None:
    try:
        data = json.loads(text)
        kinds: dict[str, Any] = {
            "ToolsListChanged": ToolsListChanged,
            "PromptsListChanged": PromptsListChanged,
            "ResourcesListChanged": ResourcesListChanged,
        }
        if data["kind"] == "resource":
            return str(data["origin"]), ResourceUpdated(uri=str(data["uri"]))
        return str(data["origin"]), kinds[data["kind"]]()
    except (ValueError, KeyError, TypeError):
        log.warning("an unreadable event on %s was ignored", CHANNEL)
        return None


class RedisSubscriptionBus:
    """A ``SubscriptionBus`` shared by every worker through Redis (see the module docstring).
    ``run()`` must be running (in the worker's task group) to hear the other workers."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._local = InMemorySubscriptionBus()
        self._redis = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._origin = secrets.token_hex(6)
        self.connected = False
        self._warned = False

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        return self._local.subscribe(listener)

    async def publish(self, event: ServerEvent) -> None:
        await self._local.publish(event)  # this worker's listeners: at once, Redis or not
        try:
            await self._redis.publish(CHANNEL, encode(event, self._origin))
        except Exception as err:  # Redis down: other workers learn it from the database
            self._down(err)

    def _down(self, err: BaseException) -> None:
        self.connected = False
        if not self._warned:
            log.warning(
                "Redis is unreachable (%s); updates stay on this worker", type(err).__name__
            )
            self._warned = True

    async def run(self) -> None:
        """Deliver other workers' events to this worker's listeners, reconnecting forever."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.connected, self._warned = True, False
                    log.info("listening for other workers' events on Redis")
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        found = decode(message["data"])
                        if found is not None and found[0] != self._origin:
                            await self._local.publish(found[1])
            except Exception as err:
                self._down(err)
            await anyio.sleep(RECONNECT_SECONDS)

    async def aclose(self) -> None:
        await self._redis.aclose()
