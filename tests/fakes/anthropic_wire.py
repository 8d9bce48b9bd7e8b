"""The Anthropic messages wire format: a ``message`` JSON body, or the SSE event sequence
``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``..., ``content_block_stop``,
``message_delta``, ``message_stop``, and Anthropic-shaped error bodies (also used for ``event: error``).
"""

from __future__ import annotations

from typing import ClassVar

from tests.fakes.script import FakeReply, FakeRequest
from tests.fakes.wire import StreamPlan, Usage, split_text, sse


def event(kind: str, data: dict) -> bytes:
    """A named SSE event; Anthropic repeats the name as the payload's "type"."""
    payload = {"type": kind} | data
    return f"event: {kind}\n".encode() + sse(payload)


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

    def error_body(self, status: int, message: str, reply: FakeReply | None = None) -> dict:
        if reply is not None and reply.fault == "context_window":
            window, prompt = reply.window_sizes()
            message = f"prompt is too long: {prompt} tokens > {window} maximum"
        kind = self.ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def usage(self, usage: Usage, output: int) -> dict:
        return {
            "input_tokens": usage.input,
            "output_tokens": output,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cache_read,
        }

    def reply_body(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> dict:
        empty = reply.fault == "empty_stream"  # not streamed: no text and no usage
        body = {
            "id": f"msg_{ident}",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [] if empty else [{"type": "text", "text": reply.text}],
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
        }
        if reply.report_usage and not empty:
            body["usage"] = self.usage(usage, usage.output)
        return body

    def stream(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> StreamPlan:
        if reply.fault == "empty_stream":  # a 200 and not one event
            return StreamPlan(head=[], deltas=[], tail=[], broken=b"", error=self._stream_error)
        # message_start carries the input side of usage; output_tokens arrives in message_delta.
        # A server that reports no usage (report_usage=False) leaves both out.
        start = self.reply_body(ident, request, reply, usage) | {"content": [], "stop_reason": None}
        if reply.report_usage:
            start["usage"] = self.usage(usage, 1)
        message_delta: dict = {"delta": {"stop_reason": reply.stop_reason, "stop_sequence": None}}
        if reply.report_usage:
            message_delta["usage"] = {"output_tokens": usage.output}
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
            event("message_delta", message_delta),
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
            error=self._stream_error,
        )

    def _stream_error(self, status: int, message: str) -> bytes:
        # Anthropic's in-stream failure: `event: error` with the same body as an HTTP error.
        return b"event: error\n" + sse(self.error_body(status, message))
