"""Every provider but Anthropic through ``litellm.acompletion``, streaming, with usage.

litellm is imported on first use, with LITELLM_LOCAL_MODEL_COST_MAP=True set first (litellm would
otherwise fetch a price list over the network at import).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from rlm_tui.llm import pricing
from rlm_tui.llm.base import Completion, ModelRequest, TextDelta, Usage
from rlm_tui.llm.retry import ProviderFailure, kind_from_status, parse_retry_after


def import_litellm() -> Any:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


class LiteLLMBackend:
    def __init__(self, *, api_base: str | None, timeout: float) -> None:
        self.api_base = api_base
        self.timeout = timeout

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        litellm = import_litellm()
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
        yield Completion("".join(parts), _usage(request.model, usage), stop_reason)


def _usage(model: str, raw: Any) -> Usage:
    if raw is None:
        return Usage(cost_usd=None)
    prompt = getattr(raw, "prompt_tokens", 0) or 0
    details = getattr(raw, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    written = getattr(raw, "cache_creation_input_tokens", 0) or 0
    usage = Usage(
        input_tokens=max(0, prompt - cached - written),
        output_tokens=getattr(raw, "completion_tokens", 0) or 0,
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )
    return Usage(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        pricing.cost_usd(model, usage),
    )


def _headers(exc: Exception) -> Any:
    for attr in ("litellm_response_headers", "headers"):
        headers = getattr(exc, attr, None)
        if headers:
            return headers
    response = getattr(exc, "response", None)
    return getattr(response, "headers", None) or {}


def _failure(litellm: Any, exc: Exception) -> ProviderFailure:
    if isinstance(exc, ProviderFailure):
        return exc
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
