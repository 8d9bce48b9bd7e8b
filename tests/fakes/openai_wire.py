"""The OpenAI chat-completions wire format: a ``chat.completion`` JSON body, or SSE
``chat.completion.chunk`` events ending in ``data: [DONE]``, and OpenAI-shaped error bodies.

The shapes follow what litellm's ``openai/<model>`` provider parses, so that it needs no special
casing to talk to the fake.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from tests.fakes.script import FakeReply, FakeRequest
from tests.fakes.wire import StreamPlan, Usage, split_text, sse


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

    def error_body(self, status: int, message: str, reply: FakeReply | None = None) -> dict:
        if reply is not None and reply.fault == "context_window":
            return self.window_error(reply)
        kind, code = self.ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def window_error(self, reply: FakeReply) -> dict:
        """The 400 body of a prompt over the window, worded as by the server `reply.window_shape` names."""
        window, prompt = reply.window_sizes()
        if reply.window_shape == "llama_server":  # llama.cpp's own server (tools/server)
            return {
                "error": {
                    "code": 400,
                    "message": f"request ({prompt} tokens) exceeds the available context size "
                    f"({window} tokens), try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": prompt,
                    "n_ctx": window,
                }
            }
        if reply.window_shape == "openai":
            message = (
                f"This model's maximum context length is {window} tokens. However, your messages "
                f"resulted in {prompt} tokens. Please reduce the length of the messages."
            )
        else:  # llama-cpp-python's server; it says None for a completion size not asked for
            message = (
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{prompt} tokens ({prompt} in the messages, None in the completion). Please reduce "
                "the length of the messages or completion."
            )
        return {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }

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

    def reply_body(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> dict:
        empty = reply.fault == "empty_stream"  # not streamed: no text and no usage
        body: dict[str, Any] = {
            "id": f"chatcmpl-{ident}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "" if empty else reply.text},
                    "finish_reason": self.finish_reason(reply),
                    "logprobs": None,
                }
            ],
        }
        if reply.report_usage and not empty:
            body["usage"] = self.usage(usage)
        return body

    def stream(self, ident: str, request: FakeRequest, reply: FakeReply, usage: Usage) -> StreamPlan:
        if reply.fault == "empty_stream":  # a 200 and not one event
            return StreamPlan(head=[], deltas=[], tail=[], broken=b"", error=self._stream_error)
        # A server that reports no usage (llama.cpp) sends none even when asked for it.
        include_usage = reply.report_usage and bool(
            (request.body.get("stream_options") or {}).get("include_usage")
        )
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
            error=self._stream_error,
        )

    def _stream_error(self, status: int, message: str) -> bytes:
        # OpenAI reports a failure after the stream began as a chunk holding only the error.
        return sse(self.error_body(status, message))
