"""Resource updates and job progress across workers, over Redis pub/sub
(``NEMO_MCP_REDIS_URL``): the SDK's ``SubscriptionBus`` and the studio's ``JobFeed``.

Every worker publishes what changed (a session's timeline, a render's status) to one Redis
channel and delivers what the others publish to its own ``subscriptions/listen`` streams, so a
client listening on one worker hears about a render another worker finished. The worker polling
a render also publishes its progress notes on the render's own channel, so a client waiting on
another worker sees them as they come. Events are resource URIs, notes are progress lines: no
tokens cross Redis. Redis is a fast path, not a dependency: while it is down, events still reach
this worker's own listeners, the bus reconnects by itself, and other workers' changes and
progress are read from the database instead (the database is the truth), only later.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.subscriptions import InMemorySubscriptionBus, ServerEvent
from mcp.shared.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ToolsListChanged,
)

from nemo_mcp.studio.views import Progress

log = logging.getLogger(__name__)

CHANNEL = "nemo-mcp:events"
JOB_CHANNEL = "nemo-mcp:job:"  # + the job id: its progress notes
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
        self._waiting: dict[str, set[MemoryObjectSendStream[Progress]]] = {}

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

    # --- job progress (the studio's JobFeed) ----------------------------------------------
    async def publish_note(self, job_id: str, note: Progress) -> None:
        if not self.connected:
            return
        try:
            await self._redis.publish(JOB_CHANNEL + job_id, note.model_dump_json())
        except Exception as err:
            self._down(err)

    async def next_note(self, job_id: str, timeout: float) -> Progress | None:
        if not self.connected:
            await anyio.sleep(timeout)
            return None
        send, receive = anyio.create_memory_object_stream[Progress](8)
        self._waiting.setdefault(job_id, set()).add(send)
        try:
            with anyio.move_on_after(timeout):
                return await receive.receive()
            return None
        finally:
            self._waiting.get(job_id, set()).discard(send)
            if not self._waiting.get(job_id):
                self._waiting.pop(job_id, None)
            send.close()
            receive.close()

    def _deliver_note(self, channel: str, data: bytes | str) -> None:
        job_id = channel.removeprefix(JOB_CHANNEL)
        try:
            note = Progress.model_validate_json(data)
        except ValueError:
            return
        for send in list(self._waiting.get(job_id, ())):
            try:
                send.send_nowait(note)
            except anyio.WouldBlock:
                pass  # a follower that has not read the last ones: it gets the next

    # --- the listening loop ---------------------------------------------------------------
    async def run(self) -> None:
        """Deliver other workers' events and notes here, reconnecting forever."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    await pubsub.psubscribe(JOB_CHANNEL + "*")
                    self.connected, self._warned = True, False
                    log.info("listening for other workers' events on Redis")
                    async for message in pubsub.listen():
                        kind = message.get("type")
                        if kind == "pmessage":
                            channel = message["channel"]
                            name = channel.decode() if isinstance(channel, bytes) else channel
                            self._deliver_note(name, message["data"])
                            continue
                        if kind != "message":
                            continue
                        found = decode(message["data"])
                        if found is not None and found[0] != self._origin:
                            await self._local.publish(found[1])
            except Exception as err:
                self._down(err)
            await anyio.sleep(RECONNECT_SECONDS)

    async def aclose(self) -> None:
        await self._redis.aclose()
