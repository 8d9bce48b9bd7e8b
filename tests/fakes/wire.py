"""What the two wire formats share: token usage, SSE framing, text chunking, the shape of a streamed
reply (``StreamPlan``), default error messages, and the ``Wire`` protocol the server talks to.

Each format (``openai_wire``, ``anthropic_wire``) builds bytes and JSON only; sending them, and cutting
a stream short for a fault, is the server's job, which is why a stream is handed over in phases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tests.fakes.script import FakeReply, FakeRequest


@dataclass
class Usage:
    """Token counts for one reply, before either API's way of reporting them."""

    input: int
    output: int
    cache_read: int
    cache_write: int


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def usage_for(request: FakeRequest, reply: FakeReply) -> Usage:
    """The reply's token counts; those it does not give are estimated from the text (len/4)."""
    return Usage(
        input=reply.input_tokens if reply.input_tokens is not None else estimate_tokens(request.text()),
        output=reply.output_tokens if reply.output_tokens is not None else estimate_tokens(reply.text),
        cache_read=reply.cache_read_tokens,
        cache_write=reply.cache_write_tokens,
    )


def split_text(text: str, size: int) -> list[str]:
    """The text deltas of a streamed reply ("" gives none)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def sse(data: dict) -> bytes:
    """One server-sent event carrying `data` as JSON (both APIs frame their events this way)."""
    return b"data: " + json.dumps(data).encode() + b"\n\n"


@dataclass
class StreamPlan:
    """A streamed reply cut into phases, so faults can stop or corrupt it at a chosen point."""

    head: list[bytes]  # before any text
    deltas: list[bytes]  # one event per text delta
    tail: list[bytes]  # the closing events
    broken: bytes  # an event whose JSON is cut short, for the "malformed" fault
    error: Callable[[int, str], bytes]  # (status, message) -> an in-stream error event


DEFAULT_MESSAGES = {
    401: "invalid x-api-key (fake provider)",
    404: "model not found (fake provider)",
    429: "rate limit exceeded (fake provider)",
    529: "overloaded (fake provider)",
}


def error_message(status: int, reply: FakeReply) -> str:
    """The message of the error `reply` answers with: its text, else a default for the status."""
    if reply.fault == "stream_error":  # the text is the reply's, streamed before the error
        return DEFAULT_MESSAGES.get(status, f"fake provider error {status}")
    return reply.text or DEFAULT_MESSAGES.get(status, f"fake provider error {status}")


class Wire(Protocol):
    """One API's wire format, as the server uses it."""

    def error_body(self, status: int, message: str, reply: FakeReply | None = None) -> dict:
        """The JSON body of an HTTP error with this status (the reply, when given, may ask for a
        body of its own: the "context_window" fault's)."""
        ...

    def reply_body(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> dict:
        """The JSON body of a successful reply that is not streamed."""
        ...

    def stream(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> StreamPlan:
        """The events of a streamed reply, in phases."""
        ...
