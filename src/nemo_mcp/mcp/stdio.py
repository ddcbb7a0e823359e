"""Serving MCP on stdio with the event loop reading and writing the pipes itself.

The SDK's stdio transport reads each line and writes each message through a worker thread
(``anyio.wrap_file``): two thread hops per message, several times the cost of a small tool
call. When standard input and output are pipes or sockets (as MCP clients start a server),
this transport reads and writes the messages on the loop's own pipe transports instead, handing
the server the message streams directly (one line read and validated per ``receive``, one
line written per ``send``), without the SDK transport's reader and writer tasks and the two
in-memory streams between them and the server; anything else (a terminal, a file, Windows)
keeps the SDK's transport. Messages are read and written as the SDK's transport does: UTF-8
with replacement, validated by the SDK's message adapter (a line that fails is handed on as
the error it raised), serialized by alias without unset fields, one per line.

Like the SDK, it keeps the protocol's pipes to itself while serving: the server talks on
private duplicates, and file descriptors 0 and 1 point at the null device and at stderr, so a
stray ``print`` or a child process cannot write into the protocol. Both are restored on exit.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Self

import anyio
from mcp.shared.message import SessionMessage

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

MAX_LINE = 64 * 1024 * 1024  # one JSON-RPC message per line; a line longer than this is refused


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def loop_pipes_usable() -> bool:
    return sys.platform != "win32" and _is_pipe(0) and _is_pipe(1)


class _Incoming:
    """The client's messages, one per line of the pipe (the SDK's ``ReadStream``)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        from mcp import types

        self._reader = reader
        self._adapter = types.jsonrpc_message_adapter

    async def receive(self) -> SessionMessage | Exception:
        line = await self._reader.readline()
        if not line:
            raise anyio.EndOfStream
        try:
            message = self._adapter.validate_json(line.decode("utf-8", "replace"), by_name=False)
        except Exception as exc:  # handed on, as the SDK's stdin reader does
            return exc
        return SessionMessage(message)

    def __aiter__(self) -> _Incoming:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        pass  # the pipe transport is closed by serve_stdio

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Outgoing:
    """The server's messages, one line each on the pipe (the SDK's ``WriteStream``)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._closed = False

    async def send(self, item: SessionMessage, /) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        text = item.message.model_dump_json(by_alias=True, exclude_unset=True)
        self._writer.write(text.encode("utf-8") + b"\n")
        await self._writer.drain()

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@asynccontextmanager
async def _claimed() -> AsyncIterator[tuple[int, int]]:
    """Private duplicates of fds 0 and 1 (the pipe transports own and close them); 0 reads the
    null device and 1 writes to stderr meanwhile."""
    saved_in, saved_out = os.dup(0), os.dup(1)
    wire_in, wire_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(devnull, 0)
        os.dup2(2, 1)
        yield wire_in, wire_out
    finally:
        os.close(devnull)
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)


async def serve_stdio(server: MCPServer[Any]) -> None:
    """Run ``server`` on stdio, on loop pipes when they can be used."""
    if not loop_pipes_usable():
        await server.run_stdio_async()
        return
    loop = asyncio.get_running_loop()
    async with _claimed() as (wire_in, wire_out):
        reader = asyncio.StreamReader(limit=MAX_LINE)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", 0)
        )
        write_transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", 0)
        )
        writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
        try:
            lowlevel = server._lowlevel_server
            await lowlevel.run(
                _Incoming(reader), _Outgoing(writer), lowlevel.create_initialization_options()
            )
            write_transport.set_write_buffer_limits(0)  # drain now waits for every byte
            await writer.drain()
        finally:
            read_transport.close()
            write_transport.close()
