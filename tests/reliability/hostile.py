"""A hostile NemoVideo backend on loopback: a raw-socket HTTP server whose answers a test scripts.

Unlike the emulator it can lie about anything at the byte level: announce 10 GiB and send a few
MB, drop the connection, ignore ``Range``, stream an endless body, nest JSON 200,000 levels
deep, echo the caller's token. Each route is a function ``(request) -> Answer``; an ``Answer``
writes the status line, headers and a body given as an iterator of chunks (sent as they come).
Every request is recorded (method, path, headers) so a test can count what reached it.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Iterable[bytes] = ()
    length: int | None = None  # the Content-Length announced (None: close-delimited body)
    drop: bool = False  # close the connection after the body, whatever was announced


Route = Callable[[Request], Answer]


def json_answer(value: Any, status: int = 200) -> Answer:
    data = json.dumps(value).encode()
    return Answer(status, {"content-type": "application/json"}, [data], len(data))


def envelope(data: Any) -> Answer:
    return json_answer({"code": 0, "message": "success", "data": data})


def huge_json(total: int, chunk: int = MB) -> Iterator[bytes]:
    """A JSON state of about ``total`` bytes, streamed: one long string inside the draft."""
    head = b'{"code":0,"data":{"session_id":"1","state":{"draft":{"t":[]},"junk":"'
    yield head
    sent = len(head)
    block = b"A" * chunk
    while sent < total - 8:
        piece = block[: min(chunk, total - 8 - sent)]
        yield piece
        sent += len(piece)
    yield b'"}}}'


def deep_json(depth: int) -> Iterator[bytes]:
    yield b'{"code":0,"data":{"session_id":"1","state":{"draft":'
    yield b"[" * depth
    yield b"]" * depth
    yield b"}}}"


class HostileServer:
    """``with HostileServer(routes) as srv: srv.url ...``; ``routes`` maps "METHOD /path-prefix"."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[Request] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner._serve(self.connection, self.rfile, self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, prefix: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # --- one connection ---------------------------------------------------------------------
    def _route(self, request: Request) -> Answer:
        for key, route in self.routes.items():
            method, _, prefix = key.partition(" ")
            if request.method == method and request.path.startswith(prefix):
                return route(request)
        return json_answer({"code": 404, "message": "not here"}, 404)

    def _serve(self, conn: socket.socket, rfile: Any, wfile: Any) -> None:
        while True:
            line = rfile.readline(65536)
            if not line or not line.strip():
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (raw := rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
                name, _, value = raw.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = rfile.read(int(headers.get("content-length") or 0))
            request = Request(method, path, headers, body)
            with self._lock:
                self.requests.append(request)
            answer = self._route(request)
            if not self._write(conn, wfile, answer):
                return

    def _write(self, conn: socket.socket, wfile: Any, answer: Answer) -> bool:
        """Send one answer; False when the connection is over."""
        head = [f"HTTP/1.1 {answer.status} X"]
        head += [f"{k}: {v}" for k, v in answer.headers.items()]
        keep = answer.length is not None and not answer.drop
        if answer.length is not None:
            head.append(f"content-length: {answer.length}")
        head.append("connection: keep-alive" if keep else "connection: close")
        try:
            wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            for chunk in answer.body:
                wfile.write(chunk)
                with self._lock:
                    self.bytes_sent += len(chunk)
            wfile.flush()
        except OSError:  # the client hung up (as it should, past a cap)
            return False
        return keep
