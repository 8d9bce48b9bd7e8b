"""anthropic/<model> through the Anthropic SDK's stream helper: async streaming, the system prompt
marked for prompt caching, usage with cache read and write tokens from the final message. Every
failure, an HTTP error or an error event inside the stream, becomes a ``ProviderFailure`` of the
kind the retries understand. The SDK is imported on first use.

The price comes from litellm, whose import takes seconds of CPU. It starts in a background thread
once the first request is out, so that it runs while the model writes, when the event loop is
mostly waiting, instead of competing for the GIL with the work before the request (which it would
slow by about as much); the price is computed when the reply is complete and litellm is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from rlm_tui.llm import pricing
from rlm_tui.llm.base import Completion, ModelRequest, TextDelta, Usage
from rlm_tui.llm.retry import ProviderFailure, kind_from_error_type, kind_from_status, parse_retry_after

DEFAULT_MAX_TOKENS = 8192


class AnthropicBackend:
    def __init__(self, *, api_key: str | None, base_url: str | None, timeout: float) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.AsyncAnthropic(
                api_key=self.api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
        return self._client

    def max_tokens(self, request: ModelRequest) -> int:
        """The request's own limit, else DEFAULT_MAX_TOKENS capped by the model's output limit.

        The limit comes from litellm, which may still be importing: the call does not wait for it,
        since every Anthropic model litellm knows allows at least DEFAULT_MAX_TOKENS."""
        if request.max_tokens:
            return request.max_tokens
        limit = pricing.max_output_tokens(request.model, wait=False)
        return min(DEFAULT_MAX_TOKENS, limit or DEFAULT_MAX_TOKENS)

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        import anthropic

        kwargs: dict[str, Any] = {
            "model": request.model.split("/", 1)[1],
            "max_tokens": self.max_tokens(request),
            "messages": [m.to_dict() for m in request.messages],
        }
        if request.system:
            # The rules are the same on every call of a session: cache them.
            kwargs["system"] = [
                {"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}
            ]
        final: Any = None
        try:
            async with self._sdk().messages.stream(**kwargs) as stream:
                pricing.preload()  # the request is out: import litellm while the model writes
                started = False
                async for event in stream:
                    if event.type == "message_start":
                        started = True
                    elif event.type == "text" and event.text:
                        yield TextDelta(event.text)
                if started:  # without message_start the helper has no message to give
                    final = await stream.get_final_message()
        except Exception as exc:
            failure = _failure(anthropic, exc, self.timeout)
            if failure is None:
                raise
            raise failure from None
        if final is None or final.stop_reason is None:
            raise ProviderFailure("connection", "the reply stream ended before the message was complete")
        u = final.usage
        usage = Usage(
            input_tokens=u.input_tokens or 0,
            output_tokens=u.output_tokens or 0,
            cache_read_tokens=getattr(u, "cache_read_input_tokens", 0) or 0,
            cache_write_tokens=getattr(u, "cache_creation_input_tokens", 0) or 0,
        )
        text = "".join(block.text for block in final.content if block.type == "text")
        yield Completion(text, await pricing.priced(request.model, usage), final.stop_reason)


def _error_field(body: Any, name: str) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    value = error.get(name) if isinstance(error, dict) else None
    return value if isinstance(value, str) else None


def _failure(anthropic: Any, exc: Exception, timeout: float) -> ProviderFailure | None:
    """Our failure for what the SDK (or httpx under it) raised; None for anything else."""
    if isinstance(exc, ProviderFailure):
        return exc
    if isinstance(exc, anthropic.APIStatusError):
        error_type = _error_field(exc.body, "type")
        message = _error_field(exc.body, "message") or str(exc)
        if exc.status_code < 400:
            # An `event: error` inside a stream that began with a 200: classified by its type,
            # so that, say, overloaded_error is retried exactly like an HTTP 529.
            return ProviderFailure(
                kind_from_error_type(error_type),
                f"the stream reported {error_type or 'an error'}: {message}",
            )
        return ProviderFailure(
            kind_from_status(exc.status_code),
            f"HTTP {exc.status_code}: {message}",
            retry_after=parse_retry_after(exc.response.headers.get("retry-after")),
            status=exc.status_code,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderFailure("timeout", f"no reply within {timeout:g} s")
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderFailure("connection", f"connection failed: {exc.__cause__ or exc}")
    if isinstance(exc, (anthropic.APIResponseValidationError, ValueError)):
        return ProviderFailure("bad_response", f"the provider sent a malformed reply ({exc})")
    if type(exc).__module__.startswith(("httpx", "httpcore")):  # a dropped stream: a read error
        return ProviderFailure("connection", f"the connection dropped mid-reply ({type(exc).__name__})")
    return None
