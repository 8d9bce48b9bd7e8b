"""Every provider but Anthropic through ``litellm.acompletion``, streaming, with usage priced by
litellm's own cost function.

litellm is imported once, in a background thread started when the backend is built (see
``litellm_loader``, which sets LITELLM_LOCAL_MODEL_COST_MAP=True first: litellm would otherwise fetch
a price list over the network at import); a call awaits that import without blocking the event loop.

Every failure, an HTTP error or an error chunk inside the stream, becomes a ``ProviderFailure`` named
for what happened. litellm wraps a refused connection or a dropped stream in exceptions that carry
a status of 500 ("InternalServerError") that no server sent: what they wrap decides, so those are
``connect`` / ``dropped`` / ``timeout``, and only a status a server sent is called one.

What the reply's end means (no text and no usage: ``empty_reply``; no stop reason: ``dropped``; no
usage: counts estimated) is ``streams``'s, shared with the Anthropic client. A server that reports
no usage in its stream (llama.cpp) is taken at its word: litellm's own guess in its place is never
passed on as reported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from rlm_tui.llm import litellm_loader, pricing
from rlm_tui.llm.base import ModelRequest
from rlm_tui.llm.failures import ProviderFailure, chain, host_of
from rlm_tui.llm.http_errors import http_failure, parse_retry_after, stream_error_failure
from rlm_tui.llm.network_errors import network_failure
from rlm_tui.llm.openai_client import body_message, clean, error_fields, usage_of
from rlm_tui.llm.streams import Heard, StreamingBackend


def import_litellm() -> Any:
    """litellm, configured; blocks until it is imported (for synchronous callers, off the loop)."""
    return litellm_loader.load()


class LiteLLMBackend(StreamingBackend):
    def __init__(self, *, api_base: str | None, timeout: float) -> None:
        self.api_base = api_base
        self.timeout = timeout
        litellm_loader.start()
        pricing.load_table()  # in the background: there when the first reply ends

    def _kwargs(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [m.to_dict() for m in request.messages]
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": stream,
            "timeout": self.timeout,
            "num_retries": 0,
        }
        if stream:
            kwargs["stream_options"] = {"include_usage": True}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if request.max_tokens:
            kwargs["max_tokens"] = request.max_tokens
        return kwargs

    async def _complete(self, litellm: Any, kwargs: dict[str, Any]) -> Any:
        """One request through litellm (``deployments`` sends it through litellm's Router)."""
        return await litellm.acompletion(**kwargs)

    def _answered_by(self, response: Any) -> str | None:
        """The model that answered, when it is not the one asked for (None: it is)."""
        return None

    @property
    def url(self) -> str | None:
        """The API base given (None: the provider's own, which litellm knows)."""
        return self.api_base

    async def _texts(self, request: ModelRequest, heard: Heard) -> AsyncIterator[str]:
        litellm = await litellm_loader.get()
        usage: Any = None
        try:
            response = await self._complete(litellm, self._kwargs(request, stream=True))
            async for chunk in response:
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                for choice in getattr(chunk, "choices", None) or []:
                    text = getattr(choice.delta, "content", None)
                    if text:
                        yield text
                    if choice.finish_reason:
                        heard.stop_reason = choice.finish_reason
            reported = _usage_reported(response, usage)
            heard.model = self._answered_by(response)
        except Exception as exc:
            raise self._failure(litellm, exc) from None
        if reported:
            heard.usage, heard.raw = usage_of(usage), usage  # its own record, for its cost function

    async def _request(self, request: ModelRequest) -> tuple[str, Heard]:
        litellm = await litellm_loader.get()
        try:
            response = await self._complete(litellm, self._kwargs(request, stream=False))
        except Exception as exc:
            raise self._failure(litellm, exc) from None
        choices = getattr(response, "choices", None) or []
        message = getattr(choices[0], "message", None) if choices else None
        text = (getattr(message, "content", None) or "") if message is not None else ""
        stop_reason = getattr(choices[0], "finish_reason", None) if choices else None
        usage = getattr(response, "usage", None)
        # litellm puts zeros where a body has no usage
        reported = usage is not None and bool(
            (getattr(usage, "prompt_tokens", 0) or 0) + (getattr(usage, "completion_tokens", 0) or 0)
        )
        model = self._answered_by(response)
        if not reported:
            return text, Heard(stop_reason=stop_reason, model=model)
        return text, Heard(usage=usage_of(usage), raw=usage, stop_reason=stop_reason, model=model)

    def _failure(self, litellm: Any, exc: Exception) -> ProviderFailure:
        if isinstance(exc, ProviderFailure):
            return exc
        causes = chain(exc)
        url = self.api_base or _origin(causes)
        reported = _stream_error(causes)
        if reported is not None:
            names = tuple(
                value if isinstance(value, str) else None
                for value in (reported.get("code"), reported.get("type"))
            )
            detail = str(reported.get("message") or "").strip()[:500]
            return stream_error_failure(names, detail, url=url, body=reported)
        # A status the server sent decides first; then what went wrong on the way; then a status
        # litellm maps an error to (only when nothing under it says more).
        sent = _status_sent(causes)
        if sent is None:
            network = network_failure(exc, url=url, timeout=self.timeout)
            if network is not None:
                return network
            sent = _status_mapped(causes)
        if sent is not None:
            status, body, message, holder = sent
            fields = error_fields(body)
            names = (fields.get("code"), fields.get("type"))
            if any(type(cause).__name__ == "ContextWindowExceededError" for cause in causes):
                names += ("context_length_exceeded",)  # litellm knows the provider's words for it
            return http_failure(
                status,
                message,
                url=url,
                retry_after=parse_retry_after(_headers(causes, holder).get("retry-after")),
                body=body,
                names=names,
            )
        if any(isinstance(cause, ValueError) for cause in causes):  # a JSON or SSE decoding error
            return ProviderFailure(
                "bad_response", f"{host_of(url)} sent a malformed reply ({clean(exc)})", url=url
            )
        innermost = causes[-1]
        return ProviderFailure("error", f"{type(innermost).__name__}: {clean(innermost)}", url=url)


# -------------------------------------------------------------------------- usage


def _usage_reported(response: Any, usage: Any) -> bool:
    """Whether the provider reported usage in the stream. litellm, asked for usage, makes up counts
    of its own when the provider sent none, in the same place; the chunks it kept from the provider
    say which it was."""
    if usage is None:
        return False
    chunks = getattr(response, "chunks", None)
    if not isinstance(chunks, list):  # not a litellm stream as we know it: take the usage as given
        return True
    return any(getattr(chunk, "usage", None) is not None for chunk in chunks)


# -------------------------------------------------------------------------- what failed


def _is_litellms(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("litellm")


# litellm's exceptions that carry a status no server sent: a connection error, its own timeout (408)
# and a failure after the stream began are given one whatever happened.
_INVENTED_STATUS = frozenset({"APIConnectionError", "Timeout", "MidStreamFallbackError"})


Sent = tuple[int, Any, str, BaseException]  # status, error body, message, the exception holding them


def _status_sent(causes: list[BaseException]) -> Sent | None:
    """The HTTP error a server sent, from the client library under litellm (its exception keeps
    the response): status, error body, the server's message."""
    for exc in causes:
        if _is_litellms(exc):
            continue
        response = getattr(exc, "response", None)
        status = getattr(exc, "status_code", None)
        if not isinstance(status, int):
            status = getattr(response, "status_code", None)
        if isinstance(status, int) and status >= 400:
            body = getattr(exc, "body", None)
            if body is None:
                body = _json(response)
            return status, body, body_message(body) or clean(exc), exc
    return None


def _status_mapped(causes: list[BaseException]) -> Sent | None:
    """The status litellm's own exception maps an error to, for providers whose client library's
    exception is not in the chain; never one of those litellm gives whatever happened."""
    for exc in causes:
        status = getattr(exc, "status_code", None)
        if (
            _is_litellms(exc)
            and isinstance(status, int)
            and status >= 400
            and not {k.__name__ for k in type(exc).__mro__} & _INVENTED_STATUS
        ):
            body = getattr(exc, "body", None)
            return status, body, body_message(body) or clean(exc), exc
    return None


def _json(response: Any) -> Any:
    try:
        return response.json()
    except Exception:  # no response, a body not read (a stream), or not JSON
        return None


def _headers(causes: list[BaseException], holder: BaseException) -> Any:
    for exc in [holder, *causes]:
        for attr in ("litellm_response_headers", "headers"):
            headers = getattr(exc, attr, None)
            if headers:
                return headers
        headers = getattr(getattr(exc, "response", None), "headers", None)
        if headers:
            return headers
    return {}


def _origin(causes: list[BaseException]) -> str | None:
    """Where the request went, from the innermost exception that knows (litellm's own exceptions
    carry a placeholder request)."""
    for exc in reversed(causes):
        if _is_litellms(exc):
            continue
        url = getattr(getattr(exc, "request", None), "url", None)
        if url is not None:
            parts = urlsplit(str(url))
            if parts.scheme and parts.netloc:
                return f"{parts.scheme}://{parts.netloc}"
    return None


def _stream_error(causes: list[BaseException]) -> dict[str, Any] | None:
    """The error object a provider sent inside a stream (OpenAI's ``data: {"error": {...}}`` chunk),
    if that is what failed: the client library raised it with the object as its body and, the
    HTTP status having been a 200, with no status of its own."""
    for current in causes:
        body = getattr(current, "body", None)
        if (
            isinstance(body, dict)
            and ("type" in body or "code" in body)
            and not isinstance(getattr(current, "status_code", None), int)
        ):
            return body
    return None
