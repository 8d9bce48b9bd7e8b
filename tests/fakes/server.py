"""``FakeProvider``: the fake's lifecycle (start, stop, its URLs), the record of what it was asked, and
how one request is answered: routed to its API, parsed, handed to the responder, then sent as that
API's JSON or SSE, with the latency and faults the reply asks for. Faults that need the socket (a stall,
a cut stream) are played here; the bytes come from the wire modules, the HTTP I/O from ``transport``.

Besides the chat APIs it can play what local servers say of themselves, each answered only when set
(else 404, as a server without that API): llama.cpp's ``GET /props``, ``GET /v1/models`` (llama.cpp's
``meta``, vLLM's ``max_model_len``), Ollama's ``POST /api/show`` and ``GET /api/ps``, and a tokenizer
(``tokenizer``: llama.cpp's or vLLM's ``POST /tokenize``, llama-cpp-python's
``POST /extras/tokenize/count``) that counts whitespace-separated words. Those requests are recorded in
``probes``, apart from the chat requests.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any, Literal

from tests.fakes.anthropic_wire import AnthropicWire
from tests.fakes.openai_wire import OpenAIWire
from tests.fakes.parsing import parse_request, route
from tests.fakes.script import Api, FakeReply, FakeRequest, Responder, as_reply
from tests.fakes.transport import Handler, LoopbackServer, Stopped
from tests.fakes.wire import Wire, error_message, usage_for

WIRES: dict[Api, Wire] = {"openai": OpenAIWire(), "anthropic": AnthropicWire()}
Tokenizer = Literal["llama.cpp", "vllm", "llama-cpp-python"]
SELF_REPORTS = frozenset(
    {("GET", "/props"), ("GET", "/v1/models"), ("GET", "/api/ps"), ("POST", "/api/show")}
)
TOKENIZE = frozenset({"/tokenize", "/extras/tokenize/count"})


class FakeProvider:
    """A loopback server answering OpenAI and Anthropic requests with what `responder` decides."""

    def __init__(
        self,
        responder: Responder,
        *,
        props: dict[str, Any] | None = None,
        model_list: dict[str, Any] | None = None,
        ollama_show: dict[str, Any] | None = None,
        ollama_ps: dict[str, Any] | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self.responder = responder
        # What the server says of itself (None: 404). Settable while it runs.
        self.props = props  # GET /props (llama.cpp)
        self.model_list = model_list  # GET /v1/models
        self.ollama_show = ollama_show  # POST /api/show
        self.ollama_ps = ollama_ps  # GET /api/ps
        self.tokenizer: Tokenizer | None = tokenizer
        self.probes: list[tuple[str, str, Any]] = []  # (method, path, JSON body) of those requests
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
            self._server = LoopbackServer(self._serve, self._serve_get)
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

    def _serve_get(self, handler: Handler) -> None:
        self._self_report(handler, "GET", b"")

    def _self_report(self, handler: Handler, method: str, raw: bytes) -> None:
        """A request about the server itself (its window, its tokenizer): recorded in ``probes``."""
        path = handler.path.split("?", 1)[0].rstrip("/")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.probes.append((method, path, body))
        answer = self._tokenize(path, body) if method == "POST" and path in TOKENIZE else None
        if (method, path) in SELF_REPORTS:
            answer = {
                "/props": self.props,
                "/v1/models": self.model_list,
                "/api/ps": self.ollama_ps,
                "/api/show": self.ollama_show,
            }[path]
        if answer is None:
            handler.send_json(404, {"error": {"message": f"fake provider: no endpoint at {method} {path}"}})
        else:
            handler.send_json(200, answer)

    def _tokenize(self, path: str, body: Any) -> dict[str, Any] | None:
        """A tokenizer counting whitespace-separated words, in the shape of the one set."""
        body = body if isinstance(body, dict) else {}
        if path == "/extras/tokenize/count" and self.tokenizer == "llama-cpp-python":
            return {"count": len(str(body.get("input", "")).split())}
        if path == "/tokenize" and self.tokenizer == "llama.cpp":
            return {"tokens": list(range(len(str(body.get("content", "")).split())))}
        if path == "/tokenize" and self.tokenizer == "vllm":
            count = len(str(body.get("prompt", "")).split())
            return {"count": count, "max_model_len": 4096, "tokens": list(range(count))}
        return None

    def _serve(self, handler: Handler) -> None:
        raw = handler.read_body()  # read even when refusing, so a keep-alive connection stays in step
        if (path := handler.path.split("?", 1)[0].rstrip("/")) in TOKENIZE or ("POST", path) in SELF_REPORTS:
            self._self_report(handler, "POST", raw)
            return
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
        handler.send_json(status, wire.error_body(status, error_message(status, reply), reply), headers)

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
