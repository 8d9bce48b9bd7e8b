"""OpenAI-compatible endpoints (OpenAI, vLLM, llama.cpp, Ollama, OpenRouter, LM Studio) through the
official ``openai`` SDK: chat completions, streamed, with usage asked for in the stream
(``stream_options.include_usage``).

Why not litellm for these: its import takes seconds and ~150 MB, and each call costs milliseconds
of CPU in its adapters and cost function, so a fan-out of a thousand sub-calls hits a CPU ceiling
before the server's. The SDK is what litellm itself calls for these providers, and it is imported
in a fraction of the time.

Failures are named exactly as the litellm client names them (``failures``, ``http_errors``,
``network_errors``), and what a reply's end means (empty, dropped, usage to estimate) is
``streams``'s, so the two clients behave alike for the same server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from rlm_tui.llm import pricing
from rlm_tui.llm.base import ModelRequest, Usage
from rlm_tui.llm.failures import ProviderFailure, host_of
from rlm_tui.llm.http_errors import http_failure, parse_retry_after, stream_error_failure
from rlm_tui.llm.network_errors import network_failure
from rlm_tui.llm.routes import NO_KEY
from rlm_tui.llm.streams import Heard, StreamingBackend


class OpenAIBackend(StreamingBackend):
    """One OpenAI-compatible API base; the model's name on the server is given per request."""

    def __init__(self, *, base_url: str, api_key: str | None = None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or NO_KEY
        self.timeout = timeout
        self._client: Any = None
        pricing.load_table()  # in the background: there when the first reply ends

    def _sdk(self) -> Any:
        if self._client is None:
            import openai

            # no retries of its own: ours (``retry``) decide, honouring Retry-After
            self._client = openai.AsyncOpenAI(
                api_key=self.api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
        return self._client

    @property
    def url(self) -> str:
        return self.base_url

    def _kwargs(self, request: ModelRequest) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [m.to_dict() for m in request.messages]
        kwargs: dict[str, Any] = {"model": request.model.split("/", 1)[-1], "messages": messages}
        if request.max_tokens:
            kwargs["max_tokens"] = request.max_tokens
        return kwargs

    async def _create(self, body: dict[str, Any], *, stream: bool) -> Any:
        """POST /chat/completions with the body as given, its reply as plain JSON (``cast_to=object``).

        The SDK's typed ``chat.completions.create`` walks every request through its type
        annotations and builds a model object of every chunk: ~1 ms of CPU a call, most of what a
        fan-out of short sub-calls costs. Its documented way for requests it has no method for,
        ``post``, sends the same request through the same client (its errors, its SSE stream)."""
        import openai

        client = self._sdk()
        if not stream:
            return await client.post("/chat/completions", body=body, cast_to=object)
        return await client.post(
            "/chat/completions",
            body={**body, "stream": True, "stream_options": {"include_usage": True}},
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )

    async def _texts(self, request: ModelRequest, heard: Heard) -> AsyncIterator[str]:
        usage: Any = None
        try:
            stream = await self._create(self._kwargs(request), stream=True)
            async with stream:
                async for chunk in stream:
                    if not isinstance(chunk, dict):
                        raise ValueError(f"a chunk that is not a JSON object: {str(chunk)[:100]}")
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or ():
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield text
                        if choice.get("finish_reason"):
                            heard.stop_reason = choice["finish_reason"]
        except Exception as exc:
            raise self._failure(exc) from None
        if usage is not None:
            heard.usage = usage_of(usage)

    async def _request(self, request: ModelRequest) -> tuple[str, Heard]:
        try:
            response = await self._create(self._kwargs(request), stream=False)
        except Exception as exc:
            raise self._failure(exc) from None
        if not isinstance(response, dict):
            raise ProviderFailure(
                "bad_response",
                f"{host_of(self.url)} sent a malformed reply (not a JSON object)",
                url=self.url,
            )
        choices = response.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        usage = response.get("usage")
        return text, Heard(
            usage=usage_of(usage) if usage else None, stop_reason=choices[0].get("finish_reason")
        )

    def _failure(self, exc: Exception) -> ProviderFailure:
        """What the SDK (or httpx under it) raised, named for what happened."""
        if isinstance(exc, ProviderFailure):
            return exc
        import openai

        url = self.base_url
        if isinstance(exc, openai.APIStatusError):
            fields = error_fields(exc.body)
            return http_failure(
                exc.status_code,
                body_message(exc.body) or clean(exc),
                url=url,
                retry_after=parse_retry_after(exc.response.headers.get("retry-after")),
                body=exc.body,
                names=(fields.get("code"), fields.get("type")),
            )
        if isinstance(exc, openai.APIError) and isinstance(exc.body, dict) and not _is_network(exc):
            # an error object inside a stream that began with a 200: no status describes it
            fields = error_fields(exc.body)
            names = tuple(v if isinstance(v, str) else None for v in (fields.get("code"), fields.get("type")))
            detail = str(fields.get("message") or "").strip()[:500]
            return stream_error_failure(names, detail, url=url, body=exc.body)
        network = network_failure(exc, url=url, timeout=self.timeout)
        if network is not None:
            return network
        if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
            return ProviderFailure(
                "bad_response", f"{host_of(url)} sent a malformed reply ({clean(exc)})", url=url
            )
        if isinstance(exc, openai.APIConnectionError):  # nothing under it says more
            return ProviderFailure(
                "dropped", f"the connection to {host_of(url)} failed ({clean(exc)})", url=url
            )
        return ProviderFailure("error", f"{type(exc).__name__}: {clean(exc)}", url=url)


def _is_network(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, openai.APIConnectionError)


def usage_of(raw: Any) -> Usage:
    """Our usage from an OpenAI-shaped usage record (a JSON object, or an SDK's object with the same
    fields): its prompt tokens count the cached ones (and, from litellm, the cache writes), which
    are given here on their own."""

    def field(record: Any, name: str) -> Any:
        return record.get(name) if isinstance(record, dict) else getattr(record, name, None)

    prompt = field(raw, "prompt_tokens") or 0
    details = field(raw, "prompt_tokens_details")
    cached = (field(details, "cached_tokens") or 0) if details is not None else 0
    written = field(raw, "cache_creation_input_tokens") or 0
    return Usage(
        input_tokens=max(0, prompt - cached - written),
        output_tokens=field(raw, "completion_tokens") or 0,
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )


def error_fields(body: Any) -> dict[str, Any]:
    """The error object of an error body: OpenAI's ``{"error": {...}}`` or the object itself."""
    if not isinstance(body, dict):
        return {}
    inner = body.get("error")
    return inner if isinstance(inner, dict) else body


def body_message(body: Any) -> str:
    fields = error_fields(body)
    message = fields.get("message")
    if not isinstance(message, str) and isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    return message.strip()[:500] if isinstance(message, str) else ""


# "litellm.BadRequestError: ContextWindowExceededError: OpenAIException - ", "Error code: 400 - "
_PREFIXES = re.compile(r"^(?:(?:litellm\.)?\w+(?:Error|Exception)(?::| -)\s*|Error code: \d+ - )+")


def clean(exc: BaseException) -> str:
    """An exception's message without the class names and codes libraries put in front of it."""
    text = str(getattr(exc, "message", "") or exc).strip()
    text = _PREFIXES.sub("", text).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
