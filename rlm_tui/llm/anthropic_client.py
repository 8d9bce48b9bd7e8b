"""anthropic/<model> through the Anthropic SDK's streamed events: the system prompt marked for
prompt caching, usage with cache read and write tokens from message_start and message_delta, the
stop reason from message_delta (an Anthropic-compatible local server may send no usage). Every
failure, an HTTP error or an error event inside the stream, becomes a ``ProviderFailure`` named for
what happened (see ``failures``); what the reply's end means (an empty reply, a dropped stream,
counts to estimate) is ``streams``'s, shared with litellm's client. The SDK is imported on first
use.

The price comes from litellm, whose import takes seconds of CPU. It starts in a background thread
once the first request is out, so that it runs while the model writes, when the event loop is
mostly waiting, instead of competing for the GIL with the work before the request (which it would
slow by about as much); the price is computed when the reply is complete and litellm is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from rlm_tui.llm import pricing
from rlm_tui.llm.base import ModelRequest, Usage
from rlm_tui.llm.failures import ProviderFailure, host_of
from rlm_tui.llm.http_errors import http_failure, parse_retry_after, stream_error_failure
from rlm_tui.llm.network_errors import network_failure
from rlm_tui.llm.streams import Heard, StreamingBackend

DEFAULT_MAX_TOKENS = 8192


class AnthropicBackend(StreamingBackend):
    def __init__(self, *, api_key: str | None, base_url: str | None, timeout: float) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self._client: Any = None
        pricing.load_table()  # in the background: there when the first reply ends

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

    @property
    def url(self) -> str:
        """The API base requests go to (the SDK's default when none was given)."""
        if self.base_url:
            return self.base_url
        return str(self._client.base_url) if self._client is not None else "https://api.anthropic.com"

    def _kwargs(self, request: ModelRequest) -> dict[str, Any]:
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
        return kwargs

    async def _texts(self, request: ModelRequest, heard: Heard) -> AsyncIterator[str]:
        import anthropic

        usage: dict[str, int] = {}
        reported = False  # the server sent usage (an Anthropic-compatible local server may not)
        try:
            # The raw events, accumulated here rather than by the SDK's stream helper, which cannot
            # take a stream without usage.
            events = await self._sdk().messages.create(**self._kwargs(request), stream=True)
            pricing.preload()  # the request is out: import litellm while the model writes
            async with events:
                async for event in events:
                    if event.type == "message_start":
                        reported |= _add_usage(usage, getattr(event.message, "usage", None))
                    elif event.type == "content_block_delta":
                        text = getattr(event.delta, "text", None)
                        if getattr(event.delta, "type", None) == "text_delta" and text:
                            yield text
                    elif event.type == "message_delta":
                        heard.stop_reason = getattr(event.delta, "stop_reason", None) or heard.stop_reason
                        reported |= _add_usage(usage, getattr(event, "usage", None))
        except Exception as exc:
            failure = _failure(anthropic, exc, self.timeout, self.url)
            if failure is None:
                raise
            raise failure from None
        heard.usage = Usage(**usage) if reported else None

    async def _request(self, request: ModelRequest) -> tuple[str, Heard]:
        import anthropic

        try:
            message = await self._sdk().messages.create(**self._kwargs(request), timeout=self.timeout)
        except Exception as exc:
            failure = _failure(anthropic, exc, self.timeout, self.url)
            if failure is None:
                raise
            raise failure from None
        blocks = getattr(message, "content", None) or []
        text = "".join(getattr(b, "text", "") or "" for b in blocks if getattr(b, "type", None) == "text")
        usage: dict[str, int] = {}
        reported = _add_usage(usage, getattr(message, "usage", None))
        stop_reason = getattr(message, "stop_reason", None)
        return text, Heard(usage=Usage(**usage) if reported else None, stop_reason=stop_reason)


USAGE_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
}


def _add_usage(totals: dict[str, int], reported: Any) -> bool:
    """Take the counts a usage record gives (message_start has the input side, message_delta the
    output, and may repeat the rest); False when there is no record."""
    if reported is None:
        return False
    for name, ours in USAGE_FIELDS.items():
        value = getattr(reported, name, None)
        if isinstance(value, int):
            totals[ours] = value
    return True


def _error_field(body: Any, name: str) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    value = error.get(name) if isinstance(error, dict) else None
    return value if isinstance(value, str) else None


def _failure(anthropic: Any, exc: Exception, timeout: float, url: str | None) -> ProviderFailure | None:
    """Our failure for what the SDK (or the HTTP library under it) raised; None for anything else."""
    if isinstance(exc, ProviderFailure):
        return exc
    if isinstance(exc, anthropic.APIStatusError):
        error_type = _error_field(exc.body, "type")
        message = _error_field(exc.body, "message") or str(exc)
        if exc.status_code < 400:
            # An `event: error` inside a stream that began with a 200: classified by its type,
            # so that, say, overloaded_error is retried exactly like an HTTP 529.
            return stream_error_failure((error_type,), message, url=url)
        return http_failure(
            exc.status_code,
            message,
            url=url,
            retry_after=parse_retry_after(exc.response.headers.get("retry-after")),
            body=exc.body,
            names=(error_type,),
        )
    network = network_failure(exc, url=url, timeout=timeout)
    if network is not None:
        return network
    if isinstance(exc, (anthropic.APIResponseValidationError, ValueError)):
        return ProviderFailure("bad_response", f"{host_of(url)} sent a malformed reply ({exc})", url=url)
    if isinstance(exc, anthropic.APIConnectionError):  # nothing under it says more
        return ProviderFailure("dropped", f"the connection to {host_of(url)} failed ({exc})", url=url)
    return None
