"""The HTTP/1.1 plumbing under the fake provider: a threaded server on 127.0.0.1 that keeps track of
its open connections, and a request handler offering the I/O the provider needs (reading a plain or
chunked body, a JSON reply, a chunked SSE stream, closing mid-message, noticing the client left).

It knows nothing of the APIs: every POST goes to the ``on_post`` callback the server was made with
(``FakeProvider._serve``), every GET to ``on_get`` (404 without one); they decide what to send.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Stopped(Exception):
    """The provider is stopping: drop the connection and let the handler thread end."""


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server on a free port of 127.0.0.1."""

    daemon_threads = True  # a stalled handler must never keep the test process alive
    request_queue_size = 128  # parallel sub-calls from one test arrive together

    def __init__(
        self, on_post: Callable[[Handler], None], on_get: Callable[[Handler], None] | None = None
    ) -> None:
        self.on_post = on_post
        self.on_get = on_get
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def drop_connections(self) -> None:
        """Shut every open connection, which unblocks handlers idling on keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    """One connection; a thread of its own, serving requests on it until either side closes."""

    protocol_version = "HTTP/1.1"  # keep-alive and chunked SSE, like the real APIs
    disable_nagle_algorithm = True  # small SSE chunks must leave at once, not wait for an ACK
    server: LoopbackServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        if self.server.on_get is None:
            self.send_json(404, {"error": {"message": f"fake provider: no endpoint at GET {self.path}"}})
            return
        try:
            self.server.on_get(self)
        except (OSError, Stopped):
            self.close_connection = True

    def do_POST(self) -> None:
        try:
            self.server.on_post(self)
        except (OSError, Stopped):
            # The client went away or the provider is stopping; nothing more to say on this socket.
            self.close_connection = True

    # ---- low-level I/O used by FakeProvider._serve

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send_json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(body).encode(), headers)

    def send_bytes(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def start_stream(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        # One HTTP chunk per SSE event, written straight to the socket so the client sees it now.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def abort(self) -> None:
        """Close the connection mid-message: the client sees the peer vanish."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def client_gone(self) -> bool:
        """True once the client has closed its end (it would be readable with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
