"""A loopback HTTP server that fakes LLM providers for end-to-end tests.

It speaks two wire formats closely enough that the real client libraries work against it unmodified:

* OpenAI chat completions, ``POST {url}/v1/chat/completions`` (what ``litellm`` with ``openai/<model>``
  and ``api_base=provider.openai_base`` sends), JSON or SSE ``data: {...}`` chunks ending in ``data: [DONE]``.
* Anthropic messages, ``POST {url}/v1/messages`` (what ``anthropic.AsyncAnthropic(base_url=provider.url)``
  sends), JSON or the SSE event sequence ``message_start`` ... ``message_stop``.

What to answer is decided by a *responder*, ``responder(FakeRequest) -> FakeReply | str``; ``Script`` is
a ready-made responder keyed on the request. Replies can also inject faults (rate limits, 5xx, broken
JSON, a connection cut mid-stream, an error event mid-stream, a stall). The server is a real socket
server on 127.0.0.1 so that subprocesses (the ``rlm`` command) can use it as well as in-process tests.

    script = Script()
    script.on(contains="hello", reply="Hi there")
    with FakeProvider(script) as provider:
        ...  # point a client at provider.openai_base or provider.anthropic_base
        assert provider.requests[0].messages[-1]["content"] == "hello"
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal

Api = Literal["openai", "anthropic"]
FAULTS = frozenset({"rate_limit", "server_error", "malformed", "cut_stream", "stream_error", "stall"})


# --------------------------------------------------------------------------- requests and replies


@dataclass
class FakeRequest:
    """What the server received, parsed into a provider-neutral shape."""

    api: str  # "openai" | "anthropic"
    path: str
    headers: dict[str, str]  # header names lower-cased
    body: dict  # the JSON body as sent
    model: str
    system: str  # the system prompt as text ("" if none)
    messages: list[dict]  # [{"role": ..., "content": <text>}], system messages removed
    stream: bool

    def text(self) -> str:
        """The system prompt and every message joined: everything the model would have read."""
        parts = [self.system] if self.system else []
        parts.extend(message["content"] for message in self.messages)
        return "\n".join(parts)

    def last_user(self) -> str:
        """The content of the last user message ("" if there is none)."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""


@dataclass
class FakeReply:
    """How the server should answer one request."""

    text: str = ""
    status: int = 200
    # None | "rate_limit" | "server_error" | "malformed" | "cut_stream" | "stream_error" | "stall".
    # "stream_error": a 200 stream that sends about half the text, then an error event in the stream
    # (the error `status` stands for; 529, Anthropic's overloaded_error, unless an error status is
    # given); a request that is not streamed gets that error as a plain HTTP error instead.
    fault: str | None = None
    retry_after: float | None = None  # seconds, sent as Retry-After on error replies
    delay: float = 0.0  # seconds before answering (latency)
    chunk_chars: int = 16  # size of streamed text deltas
    chunk_delay: float = 0.0  # seconds between streamed chunks
    input_tokens: int | None = None  # default: estimated from the request text (len/4)
    output_tokens: int | None = None  # default: estimated from `text` (len/4)
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stop_reason: str = "end_turn"  # Anthropic's vocabulary; mapped for OpenAI ("end_turn" -> "stop")

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {sorted(FAULTS)}")

    def error_status(self) -> int | None:
        """The HTTP error status this reply answers with, or None for a successful reply."""
        if self.fault == "rate_limit":
            return 429
        if self.fault == "server_error":
            return self.status if self.status >= 500 else 500
        if self.fault == "stream_error":
            return None  # the stream itself is a 200; the error comes inside it
        if not 200 <= self.status < 300:
            return self.status
        return None

    def stream_error_status(self) -> int:
        """For the "stream_error" fault: the status whose error the stream reports."""
        return self.status if self.status >= 400 else 529


Responder = Callable[[FakeRequest], "FakeReply | str"]
ReplySpec = FakeReply | str | Callable[[FakeRequest], "FakeReply | str"]


def as_reply(result: object) -> FakeReply:
    if isinstance(result, FakeReply):
        return result
    if isinstance(result, str):
        return FakeReply(text=result)
    raise TypeError(f"a responder must return FakeReply or str, not {type(result).__name__}")


# --------------------------------------------------------------------------- scripting


@dataclass
class Rule:
    """One scripted answer: matchers (all given ones must hold) and a reply or a list of replies."""

    contains: str | None = None  # in the last user message
    system_contains: str | None = None
    model: str | None = None
    api: str | None = None
    where: Callable[[FakeRequest], bool] | None = None  # any other condition
    reply: ReplySpec | None = None  # answered every time
    replies: list[ReplySpec] | None = None  # answered in order, once each
    hits: list[FakeRequest] = field(default_factory=list)  # the requests this rule answered
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def matches(self, request: FakeRequest) -> bool:
        return (
            (self.contains is None or self.contains in request.last_user())
            and (self.system_contains is None or self.system_contains in request.system)
            and (self.model is None or self.model == request.model)
            and (self.api is None or self.api == request.api)
            and (self.where is None or bool(self.where(request)))
        )

    def answer(self, request: FakeRequest) -> FakeReply | str:
        with self._lock:  # concurrent requests must each take their own reply from the list
            index = len(self.hits)
            self.hits.append(request)
        if self.replies is None:
            spec = self.reply
        elif index < len(self.replies):
            spec = self.replies[index]
        else:
            return FakeReply(
                status=500,
                text=f"scripted replies exhausted for {self.describe()}: it had {len(self.replies)}, "
                f"this is request {index + 1}; last user message: {request.last_user()[:200]}",
            )
        assert spec is not None
        return spec(request) if callable(spec) else spec

    def remaining(self) -> int | None:
        """Replies not yet used (None for a rule with a single repeating reply)."""
        if self.replies is None:
            return None
        return max(0, len(self.replies) - len(self.hits))

    def describe(self) -> str:
        matchers = {
            "contains": self.contains,
            "system_contains": self.system_contains,
            "model": self.model,
            "api": self.api,
            "where": self.where,
        }
        given = ", ".join(f"{key}={value!r}" for key, value in matchers.items() if value is not None)
        return f"rule({given})"


class Script:
    """A responder made of rules; the first matching rule, in order of registration, answers."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def on(
        self,
        contains: str | None = None,
        *,
        system_contains: str | None = None,
        model: str | None = None,
        api: str | None = None,
        where: Callable[[FakeRequest], bool] | None = None,
        reply: ReplySpec | None = None,
        replies: list[ReplySpec] | None = None,
    ) -> Rule:
        if (reply is None) == (replies is None):
            raise ValueError("give exactly one of reply= or replies=")
        if api is not None and api not in ("openai", "anthropic"):
            raise ValueError(f"api must be 'openai' or 'anthropic', not {api!r}")
        rule = Rule(
            contains, system_contains, model, api, where, reply, list(replies) if replies else replies
        )
        self.rules.append(rule)
        return rule

    def __call__(self, request: FakeRequest) -> FakeReply | str:
        for rule in self.rules:
            if rule.matches(request):
                return rule.answer(request)
        return FakeReply(status=500, text=f"no scripted reply for: {request.last_user()[:200]}")

    def pending(self) -> list[Rule]:
        """Rules whose list of replies has not been used up: handy to assert a script ran to the end."""
        return [rule for rule in self.rules if rule.remaining()]


# --------------------------------------------------------------------------- request parsing


def content_text(content: Any) -> str:
    """Flatten message content, a string or a list of blocks in either API's shape, to plain text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        return "\n".join(text for text in map(_block_text, content) if text)
    return str(content)


def _block_text(block: Any) -> str:
    if not isinstance(block, dict):
        return block if isinstance(block, str) else str(block)
    kind = block.get("type")
    if isinstance(block.get("text"), str):  # Anthropic and OpenAI text blocks
        return block["text"]
    if kind == "tool_result":
        return content_text(block.get("content"))
    if kind == "tool_use":
        return json.dumps(block.get("input", {}))
    if kind in ("image", "image_url", "input_image", "document", "file"):
        return f"[{kind}]"  # so a test can still see that something non-textual was sent
    return ""


def parse_request(api: str, path: str, headers: dict[str, str], body: dict) -> FakeRequest:
    raw_messages = body.get("messages") or []
    if api == "openai":
        # OpenAI carries the system prompt as messages; "developer" is the newer name for the same role.
        system_roles = ("system", "developer")
        system = "\n".join(
            content_text(m.get("content")) for m in raw_messages if m.get("role") in system_roles
        )
        raw_messages = [m for m in raw_messages if m.get("role") not in system_roles]
    else:
        system = content_text(body.get("system"))
    messages = [{"role": m.get("role", ""), "content": content_text(m.get("content"))} for m in raw_messages]
    return FakeRequest(
        api=api,
        path=path,
        headers=headers,
        body=body,
        model=str(body.get("model", "")),
        system=system,
        messages=messages,
        stream=bool(body.get("stream", False)),
    )


def route(path: str) -> str | None:
    """Which API a request path belongs to (None for anything else)."""
    bare = path.split("?", 1)[0].rstrip("/")
    if bare.endswith("/chat/completions"):
        return "openai"
    if bare.endswith("/messages"):
        return "anthropic"
    return None


# --------------------------------------------------------------------------- wire formats


@dataclass
class Usage:
    input: int
    output: int
    cache_read: int
    cache_write: int


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def usage_for(request: FakeRequest, reply: FakeReply) -> Usage:
    return Usage(
        input=reply.input_tokens if reply.input_tokens is not None else estimate_tokens(request.text()),
        output=reply.output_tokens if reply.output_tokens is not None else estimate_tokens(reply.text),
        cache_read=reply.cache_read_tokens,
        cache_write=reply.cache_write_tokens,
    )


def split_text(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class StreamPlan:
    """A streamed reply cut into phases, so faults can stop or corrupt it at a chosen point."""

    head: list[bytes]  # before any text
    deltas: list[bytes]  # one event per text delta
    tail: list[bytes]  # the closing events
    broken: bytes  # an event whose JSON is cut short, for the "malformed" fault
    error: Callable[[int, str], bytes]  # (status, message) -> an in-stream error event


class OpenAIWire:
    """The OpenAI chat-completions format."""

    name = "openai"
    # status -> (error.type, error.code). The real API says "invalid_request_error" for 401 and 403 too,
    # but litellm maps any error whose text has that word to BadRequestError (unless the message starts
    # "Incorrect API key provided"), so distinct types keep 401/403 -> AuthenticationError/PermissionDenied.
    ERRORS: ClassVar[dict[int, tuple[str, str | None]]] = {
        400: ("invalid_request_error", None),
        401: ("authentication_error", "invalid_api_key"),
        403: ("permission_error", "permission_denied"),
        404: ("invalid_request_error", "model_not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }
    FINISH_REASONS: ClassVar[dict[str, str]] = {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "max_tokens": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
    }

    def error_body(self, status: int, message: str) -> dict:
        kind, code = self.ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def finish_reason(self, reply: FakeReply) -> str:
        return self.FINISH_REASONS.get(reply.stop_reason, reply.stop_reason)

    def usage(self, usage: Usage) -> dict:
        # OpenAI counts cached tokens inside prompt_tokens and breaks them out in the details.
        prompt = usage.input + usage.cache_read + usage.cache_write
        return {
            "prompt_tokens": prompt,
            "completion_tokens": usage.output,
            "total_tokens": prompt + usage.output,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read},
        }

    def completion(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> dict:
        return {
            "id": f"chatcmpl-{ident}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": self.finish_reason(reply),
                    "logprobs": None,
                }
            ],
            "usage": self.usage(usage),
        }

    def stream(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> StreamPlan:
        include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        created = int(time.time())

        def chunk(delta: dict, finish_reason: str | None = None) -> bytes:
            data: dict[str, Any] = {
                "id": f"chatcmpl-{ident}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": request.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
            }
            if include_usage:  # the real API then puts "usage": null on every chunk but the last
                data["usage"] = None
            return sse(data)

        tail = [chunk({}, self.finish_reason(reply))]
        if include_usage:
            tail.append(
                sse(
                    {
                        "id": f"chatcmpl-{ident}",
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": request.model,
                        "choices": [],
                        "usage": self.usage(usage),
                    }
                )
            )
        tail.append(b"data: [DONE]\n\n")
        return StreamPlan(
            head=[chunk({"role": "assistant", "content": ""})],
            deltas=[chunk({"content": piece}) for piece in split_text(reply.text, reply.chunk_chars)],
            tail=tail,
            broken=b'data: {"id": "chatcmpl-'
            + ident.encode()
            + b'", "choices": [{"delta": {"content": "\n\n',
            # OpenAI reports a failure after the stream began as a chunk holding only the error.
            error=lambda status, message: sse(self.error_body(status, message)),
        )


class AnthropicWire:
    """The Anthropic messages format."""

    name = "anthropic"
    ERRORS: ClassVar[dict[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }

    def error_body(self, status: int, message: str) -> dict:
        kind = self.ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def usage(self, usage: Usage, output: int) -> dict:
        return {
            "input_tokens": usage.input,
            "output_tokens": output,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cache_read,
        }

    def message(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> dict:
        return {
            "id": f"msg_{ident}",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": self.usage(usage, usage.output),
        }

    def stream(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> StreamPlan:
        # message_start carries the input side of usage; output_tokens arrives in message_delta.
        start = self.message(ident, request, reply, usage) | {
            "content": [],
            "stop_reason": None,
            "usage": self.usage(usage, 1),
        }
        head = [
            event("message_start", {"message": start}),
            event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            event("ping", {}),  # the real API sends these; clients must skip them
        ]
        deltas = [
            event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
            for piece in split_text(reply.text, reply.chunk_chars)
        ]
        tail = [
            event("content_block_stop", {"index": 0}),
            event(
                "message_delta",
                {
                    "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": usage.output},
                },
            ),
            event("message_stop", {}),
        ]
        broken = (
            b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {\n\n'
        )
        return StreamPlan(
            head=head,
            deltas=deltas,
            tail=tail,
            broken=broken,
            # Anthropic's in-stream failure: `event: error` with the same body as an HTTP error.
            error=lambda status, message: b"event: error\n" + sse(self.error_body(status, message)),
        )


def sse(data: dict) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def event(kind: str, data: dict) -> bytes:
    payload = {"type": kind} | data
    return f"event: {kind}\n".encode() + sse(payload)


WIRES: dict[str, OpenAIWire | AnthropicWire] = {"openai": OpenAIWire(), "anthropic": AnthropicWire()}

DEFAULT_MESSAGES = {
    401: "invalid x-api-key (fake provider)",
    404: "model not found (fake provider)",
    429: "rate limit exceeded (fake provider)",
    529: "overloaded (fake provider)",
}


# --------------------------------------------------------------------------- the server


class _Stopped(Exception):
    """The provider is stopping: drop the connection and let the handler thread end."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler must never keep the test process alive
    request_queue_size = 128  # parallel sub-calls from one test arrive together

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked SSE, like the real APIs
    disable_nagle_algorithm = True  # small SSE chunks must leave at once, not wait for an ACK
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.provider._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.provider._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self.send_json(404, {"error": {"message": f"fake provider: no endpoint at GET {self.path}"}})

    def do_POST(self) -> None:
        try:
            self.server.provider._serve(self)
        except (OSError, _Stopped):
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


class FakeProvider:
    """A loopback server answering OpenAI and Anthropic requests with what `responder` decides."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[FakeRequest] = []
        self.errors: list[BaseException] = []  # exceptions raised by the responder (answered as 500)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> FakeProvider:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self)
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
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # unblocks handlers idling on keep-alive connections
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
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

    # ---- bookkeeping used by the handler

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _wait(self, seconds: float) -> None:
        """Sleep, but give up at once when the provider stops."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stopped

    # ---- answering one request

    def _serve(self, handler: _Handler) -> None:
        raw = handler.read_body()
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
            self._send_json_reply(handler, wire, ident, request, reply)

    def _reply_for(self, request: FakeRequest) -> FakeReply:
        try:
            return as_reply(self.responder(request))
        except Exception as exc:
            # Answer rather than drop the connection, so the failing test shows what went wrong.
            self.errors.append(exc)
            return FakeReply(status=500, text=f"fake provider responder raised {type(exc).__name__}: {exc}")

    def _stall(self, handler: _Handler) -> None:
        # Never answer; end when the client gives up (closes) or the provider stops.
        while not handler.client_gone():
            self._wait(0.02)
        handler.close_connection = True

    def _send_error(
        self, handler: _Handler, wire: OpenAIWire | AnthropicWire, status: int, reply: FakeReply
    ) -> None:
        message = self._error_message(status, reply)
        headers = {}
        if reply.retry_after is not None:
            seconds = reply.retry_after
            headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        handler.send_json(status, wire.error_body(status, message), headers)

    @staticmethod
    def _error_message(status: int, reply: FakeReply) -> str:
        if reply.fault == "stream_error":  # the text is the reply's, streamed before the error
            return DEFAULT_MESSAGES.get(status, f"fake provider error {status}")
        return reply.text or DEFAULT_MESSAGES.get(status, f"fake provider error {status}")

    def _send_json_reply(
        self,
        handler: _Handler,
        wire: OpenAIWire | AnthropicWire,
        ident: str,
        request: FakeRequest,
        reply: FakeReply,
    ) -> None:
        usage = usage_for(request, reply)
        if isinstance(wire, OpenAIWire):
            body = wire.completion(ident, request, reply, usage)
        else:
            body = wire.message(ident, request, reply, usage)
        handler.send_json(reply.status, body, {"request-id": f"req_{ident}"})

    def _send_stream(
        self,
        handler: _Handler,
        wire: OpenAIWire | AnthropicWire,
        ident: str,
        request: FakeRequest,
        reply: FakeReply,
    ) -> None:
        plan = wire.stream(ident, request, reply, usage_for(request, reply))
        handler.start_stream({"request-id": f"req_{ident}"})
        for chunk in plan.head:
            handler.write_chunk(chunk)

        deltas = plan.deltas
        if reply.fault in ("cut_stream", "stream_error"):
            deltas = deltas[: (len(deltas) + 1) // 2]  # about half the text, at least one delta
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
            handler.write_chunk(plan.error(status, self._error_message(status, reply)))
            handler.end_stream()  # no closing events: the message never completes
            return
        self._wait(reply.chunk_delay)
        for chunk in plan.tail:
            handler.write_chunk(chunk)
        handler.end_stream()
