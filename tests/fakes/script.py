"""What the fake provider was asked and how it should answer: ``FakeRequest``, ``FakeReply`` and the
faults a reply can inject, and ``Script``, a ready-made responder made of rules keyed on the request.

A *responder* is any ``responder(FakeRequest) -> FakeReply | str``; nothing here knows about HTTP or
either wire format, so scripts read the same whichever API a test points its client at.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Api = Literal["openai", "anthropic"]
FAULTS = frozenset(
    {
        "rate_limit",
        "server_error",
        "malformed",
        "cut_stream",
        "stream_error",
        "stall",
        "empty_stream",
        "context_window",
    }
)
# How a "context_window" error is worded on the OpenAI wire (the Anthropic wire has one way):
#   openai      OpenAI's own: code context_length_exceeded, "maximum context length is N tokens.
#               However, your messages resulted in M tokens."
#   llama_cpp   llama-cpp-python's server: code context_length_exceeded, "maximum context length
#               is N tokens. However, you requested M tokens (P in the messages, C in the completion)"
#   llama_server  llama.cpp's own server: type exceed_context_size_error, "request (P tokens) exceeds
#               the available context size (N tokens)", and n_prompt_tokens / n_ctx in the body
WindowShape = Literal["openai", "llama_cpp", "llama_server"]


# --------------------------------------------------------------------------- requests and replies


@dataclass
class FakeRequest:
    """What the server received, parsed into a provider-neutral shape."""

    api: Api
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
    # None | "rate_limit" | "server_error" | "malformed" | "cut_stream" | "stream_error" | "stall"
    # | "empty_stream" | "context_window".
    # "stream_error": a 200 stream that sends about half the text, then an error event in the stream
    # (the error `status` stands for; 529, Anthropic's overloaded_error, unless an error status is
    # given); a request that is not streamed gets that error as a plain HTTP error instead.
    # "empty_stream": a 200 whose stream has no event at all, what llama-cpp-python's server sends
    # when a streamed prompt is over its window; a request that is not streamed gets a reply with
    # no text and no usage. (``llama_cpp_over_window`` plays that server: empty when streamed, the
    # 400 when not.)
    # "context_window": an HTTP 400 saying the prompt (`input_tokens`, default twice the window) is
    # over the model's `window` (default 512), worded as `window_shape` says on the OpenAI wire and
    # as Anthropic's "prompt is too long" on the Anthropic wire.
    fault: str | None = None
    retry_after: float | None = None  # seconds, sent as Retry-After on error replies
    delay: float = 0.0  # seconds before answering (latency)
    chunk_chars: int = 16  # size of streamed text deltas
    chunk_delay: float = 0.0  # seconds between streamed chunks
    input_tokens: int | None = None  # default: estimated from the request text (len/4)
    output_tokens: int | None = None  # default: estimated from `text` (len/4)
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stop_reason: str = "end_turn"  # Anthropic's vocabulary; mapped for OpenAI ("end_turn" -> "stop",
    # "max_tokens" -> "length": a reply cut at the output limit)
    report_usage: bool = True  # False: no usage anywhere in the reply (llama.cpp streams send none)
    window: int | None = None  # the model's context window, for the "context_window" fault
    window_shape: WindowShape = "llama_cpp"

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
        if self.fault == "context_window":
            return 400
        if not 200 <= self.status < 300:
            return self.status
        return None

    def stream_error_status(self) -> int:
        """For the "stream_error" fault: the status whose error the stream reports."""
        return self.status if self.status >= 400 else 529

    def window_sizes(self) -> tuple[int, int]:
        """For the "context_window" fault: (the model's window, the prompt's tokens)."""
        window = self.window if self.window is not None else 512
        return window, self.input_tokens if self.input_tokens is not None else 2 * window


Responder = Callable[[FakeRequest], "FakeReply | str"]
ReplySpec = FakeReply | str | Callable[[FakeRequest], "FakeReply | str"]


def as_reply(result: object) -> FakeReply:
    """A responder's answer as a FakeReply (a bare string is the reply's text)."""
    if isinstance(result, FakeReply):
        return result
    if isinstance(result, str):
        return FakeReply(text=result)
    raise TypeError(f"a responder must return FakeReply or str, not {type(result).__name__}")


def llama_cpp_over_window(window: int = 512, prompt_tokens: int | None = None) -> Responder:
    """A responder playing llama-cpp-python's server with a prompt over its window: a streamed
    request gets a 200 with an empty stream, one that is not streamed the 400 that says why."""

    def answer(request: FakeRequest) -> FakeReply:
        if request.stream:
            return FakeReply(fault="empty_stream")
        return FakeReply(
            fault="context_window", window=window, input_tokens=prompt_tokens, window_shape="llama_cpp"
        )

    return answer


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
