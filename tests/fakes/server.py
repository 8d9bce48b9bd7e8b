"""``FakeProvider``: the fake's lifecycle (start, stop, its URLs), the record of what it was asked, and
how one request is answered: routed to its API, parsed, handed to the responder, then sent as that
API's JSON or SSE, with the latency and faults the reply asks for. Faults that need the socket (a stall,
a cut stream) are played here; the bytes come from the wire modules, the HTTP I/O from ``transport``.
"""

from __future__ import annotations

import itertools
import json
import threading

from tests.fakes.anthropic_wire import AnthropicWire
from tests.fakes.openai_wire import OpenAIWire
from tests.fakes.parsing import parse_request, route
from tests.fakes.script import Api, FakeReply, FakeRequest, Responder, as_reply
from tests.fakes.transport import Handler, LoopbackServer, Stopped
from tests.fakes.wire import Wire, error_message, usage_for

WIRES: dict[Api, Wire] = {"openai": OpenAIWire(), "anthropic": AnthropicWire()}


class FakeProvider:
    """A loopback server answering OpenAI and Anthropic requests with what `responder` decides."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[FakeRequest] = []
        self.errors: list[BaseException] = []  # exceptions raised by the responder (answered as 500)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> FakeProvider:
        if self._server is None:
            self._stopping.clear()
            self._server = LoopbackServer(self._serve)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # shutdown() waits for one poll interval
                name=f"fake-provider-{self._server.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers that wait (delay, chunk_delay, stall)
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeProvider is not running; call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base(self) -> str:
        return self.url

    # ---- answering one request (on the handler's thread)

    def _wait(self, seconds: float) -> None:
        """Sleep, but give up at once when the provider stops."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise Stopped

    def _serve(self, handler: Handler) -> None:
        raw = handler.read_body()  # read even when refusing, so a keep-alive connection stays in step
        api = route(handler.path)
        if api is None:
            handler.send_json(
                404, {"error": {"message": f"fake provider: no endpoint at POST {handler.path}"}}
            )
            return
        wire = WIRES[api]
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            handler.send_json(400, wire.error_body(400, f"request body is not JSON: {exc}"))
            return
        if not isinstance(body, dict):
            handler.send_json(400, wire.error_body(400, "request body must be a JSON object"))
            return

        headers = {name.lower(): value for name, value in handler.headers.items()}
        request = parse_request(api, handler.path, headers, body)
        with self._lock:
            self.requests.append(request)
            ident = f"fake{next(self._ids):04d}"
        reply = self._reply_for(request)

        self._wait(reply.delay)
        status = reply.error_status()
        if reply.fault == "stall":
            self._stall(handler)
        elif status is not None:
            self._send_error(handler, wire, status, reply)
        elif reply.fault == "cut_stream" and not request.stream:
            handler.abort()  # no status line at all
        elif reply.fault == "malformed" and not request.stream:
            handler.send_bytes(200, b'{"id": "' + ident.encode() + b'", "this is": not JSON')
        elif reply.fault == "stream_error" and not request.stream:
            self._send_error(handler, wire, reply.stream_error_status(), reply)
        elif request.stream:
            self._send_stream(handler, wire, ident, request, reply)
        else:
            answer = wire.reply_body(ident, request, reply, usage_for(request, reply))
            handler.send_json(reply.status, answer, {"request-id": f"req_{ident}"})

    def _reply_for(self, request: FakeRequest) -> FakeReply:
        try:
            return as_reply(self.responder(request))
        except Exception as exc:
            # Answer rather than drop the connection, so the failing test shows what went wrong.
            self.errors.append(exc)
            return FakeReply(status=500, text=f"fake provider responder raised {type(exc).__name__}: {exc}")

    def _stall(self, handler: Handler) -> None:
        # Never answer; end when the client gives up (closes) or the provider stops.
        while not handler.client_gone():
            self._wait(0.02)
        handler.close_connection = True

    def _send_error(self, handler: Handler, wire: Wire, status: int, reply: FakeReply) -> None:
        headers = {}
        if reply.retry_after is not None:
            seconds = reply.retry_after
            headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        handler.send_json(status, wire.error_body(status, error_message(status, reply)), headers)

    def _send_stream(
        self, handler: Handler, wire: Wire, ident: str, request: FakeRequest, reply: FakeReply
    ) -> None:
        plan = wire.stream(ident, request, reply, usage_for(request, reply))
        handler.start_stream({"request-id": f"req_{ident}"})
        for chunk in plan.head:
            handler.write_chunk(chunk)

        deltas = plan.deltas
        if reply.fault in ("cut_stream", "stream_error"):
            deltas = deltas[
                : (len(deltas) + 1) // 2
            ]  # about half the text; at least one delta if there is text
        elif reply.fault == "malformed":
            deltas = deltas[:1]
        for index, chunk in enumerate(deltas):
            if index:
                self._wait(reply.chunk_delay)
            handler.write_chunk(chunk)

        if reply.fault == "cut_stream":
            handler.abort()  # no closing events, no terminating chunk: the body is incomplete
            return
        if reply.fault == "malformed":
            handler.write_chunk(plan.broken)
            handler.end_stream()
            return
        if reply.fault == "stream_error":
            status = reply.stream_error_status()
            self._wait(reply.chunk_delay)
            handler.write_chunk(plan.error(status, error_message(status, reply)))
            handler.end_stream()  # no closing events: the message never completes
            return
        self._wait(reply.chunk_delay)
        for chunk in plan.tail:
            handler.write_chunk(chunk)
        handler.end_stream()
