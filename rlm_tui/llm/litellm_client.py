"""Every provider but Anthropic through ``litellm.acompletion``, streaming, with usage priced by
litellm's own cost function.

litellm is imported once, in a background thread started when the backend is built (see
``litellm_loader``, which sets LITELLM_LOCAL_MODEL_COST_MAP=True first: litellm would otherwise fetch
a price list over the network at import); a call awaits that import without blocking the event loop.
Every failure, an HTTP error or an error chunk inside the stream, becomes a ``ProviderFailure``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from rlm_tui.llm import litellm_loader, pricing
from rlm_tui.llm.base import Completion, ModelRequest, TextDelta, Usage
from rlm_tui.llm.retry import ProviderFailure, kind_from_error_type, kind_from_status, parse_retry_after


def import_litellm() -> Any:
    """litellm, configured; blocks until it is imported (for synchronous callers, off the loop)."""
    return litellm_loader.load()


class LiteLLMBackend:
    def __init__(self, *, api_base: str | None, timeout: float) -> None:
        self.api_base = api_base
        self.timeout = timeout
        litellm_loader.start()

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        litellm = await litellm_loader.get()
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [m.to_dict() for m in request.messages]
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": self.timeout,
            "num_retries": 0,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if request.max_tokens:
            kwargs["max_tokens"] = request.max_tokens
        parts: list[str] = []
        usage: Any = None
        stop_reason = None
        try:
            response = await litellm.acompletion(**kwargs)
            async for chunk in response:
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                for choice in getattr(chunk, "choices", None) or []:
                    text = getattr(choice.delta, "content", None)
                    if text:
                        parts.append(text)
                        yield TextDelta(text)
                    if choice.finish_reason:
                        stop_reason = choice.finish_reason
        except Exception as exc:
            raise _failure(litellm, exc) from None
        if stop_reason is None:
            raise ProviderFailure("connection", "the reply stream ended before the message was complete")
        if usage is None:  # the server sent no usage: nothing to count, no price to know
            yield Completion("".join(parts), Usage(cost_usd=None), stop_reason)
            return
        # litellm's own usage record is priced as it is: it is the shape its cost function expects.
        priced = await pricing.priced(request.model, _usage(usage), raw=usage)
        yield Completion("".join(parts), priced, stop_reason)


def _usage(raw: Any) -> Usage:
    prompt = getattr(raw, "prompt_tokens", 0) or 0
    details = getattr(raw, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    written = getattr(raw, "cache_creation_input_tokens", 0) or 0
    return Usage(
        input_tokens=max(0, prompt - cached - written),
        output_tokens=getattr(raw, "completion_tokens", 0) or 0,
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )


def _headers(exc: Exception) -> Any:
    for attr in ("litellm_response_headers", "headers"):
        headers = getattr(exc, attr, None)
        if headers:
            return headers
    response = getattr(exc, "response", None)
    return getattr(response, "headers", None) or {}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and those it wraps: litellm's ``original_exception``, causes and contexts."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        original = getattr(current, "original_exception", None)
        todo += [original if isinstance(original, BaseException) else None]
        todo += [current.__cause__, current.__context__]


def _stream_error(exc: Exception) -> dict[str, Any] | None:
    """The error object a provider sent inside a stream (OpenAI's ``data: {"error": {...}}`` chunk),
    if that is what failed: the client library raised it with the object as its body and, the
    HTTP status having been a 200, with no status of its own."""
    for current in _chain(exc):
        body = getattr(current, "body", None)
        if (
            isinstance(body, dict)
            and ("type" in body or "code" in body)
            and not isinstance(getattr(current, "status_code", None), int)
        ):
            return body
    return None


def _failure(litellm: Any, exc: Exception) -> ProviderFailure:
    if isinstance(exc, ProviderFailure):
        return exc
    reported = _stream_error(exc)
    if reported is not None:
        names = [
            value if isinstance(value, str) else None
            for value in (reported.get("code"), reported.get("type"))
        ]
        label = next((name for name in names if name), "an error")
        detail = str(reported.get("message") or "").strip()[:500]
        return ProviderFailure(kind_from_error_type(*names), f"the stream reported {label}: {detail}")
    # A failure after the stream began comes wrapped (MidStreamFallbackError); what it wraps says
    # what went wrong (a rate limit, a dropped connection, ...).
    mid_stream = getattr(getattr(litellm, "exceptions", None), "MidStreamFallbackError", None)
    if mid_stream is not None and isinstance(exc, mid_stream):
        original = getattr(exc, "original_exception", None)
        if isinstance(original, Exception):
            exc = original
    message = (
        str(getattr(exc, "message", "") or exc).strip().splitlines()[0][:500]
        if str(exc)
        else type(exc).__name__
    )
    if isinstance(exc, litellm.Timeout):
        return ProviderFailure("timeout", "no reply in time")
    if isinstance(exc, litellm.APIConnectionError):
        return ProviderFailure("connection", f"connection failed: {message}")
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 400:
        retry_after = parse_retry_after(_headers(exc).get("retry-after"))
        return ProviderFailure(
            kind_from_status(status), f"HTTP {status}: {message}", retry_after=retry_after, status=status
        )
    if isinstance(exc, (litellm.BadRequestError,)):
        return ProviderFailure("error", message)
    if isinstance(exc, ValueError):
        return ProviderFailure("bad_response", f"the provider sent a malformed reply ({message})")
    name = type(exc).__module__
    if name.startswith(("httpx", "httpcore", "aiohttp")):
        return ProviderFailure("connection", f"the connection dropped mid-reply ({type(exc).__name__})")
    return ProviderFailure("error", f"{type(exc).__name__}: {message}")
