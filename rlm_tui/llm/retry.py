"""Retries with exponential backoff and jitter, honouring Retry-After.

Backends turn their library's exceptions into ``ProviderFailure``; this module decides whether to
try again, reports every retry (the engine makes it an event), and raises a ``ProviderError`` with a
clear message when the retries run out or the failure is not worth retrying.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from rlm_tui.errors import ProviderError
from rlm_tui.llm.base import Completion, ModelRequest, RetryInfo, TextDelta

RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection", "bad_response"})
MAX_RETRY_AFTER = 300.0


class ProviderFailure(Exception):
    def __init__(
        self, kind: str, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, failure: ProviderFailure) -> float:
        if failure.retry_after is not None:
            return min(max(failure.retry_after, 0.0), MAX_RETRY_AFTER)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return backoff * (0.5 + random.random() / 2)  # "equal jitter": spread clients apart


def kind_from_status(status: int) -> str:
    if status == 429:
        return "rate_limit"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 408 or status >= 500:
        return "server" if status != 408 else "timeout"
    return "error"


# What a provider names an error in its error body (Anthropic's error types; OpenAI's error codes
# and types), as the HTTP status it stands for. An error reported inside a stream that began with a
# 200 is then treated exactly like that HTTP error: overloaded mid-stream is retried like a 529.
ERROR_TYPE_STATUS: dict[str, int] = {
    # Anthropic
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
    # OpenAI (and the OpenAI-compatible servers)
    "invalid_api_key": 401,
    "permission_denied": 403,
    "model_not_found": 404,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "requests": 429,
    "tokens": 429,
    "server_error": 500,
    "service_unavailable": 503,
}


def kind_from_error_type(*names: str | None) -> str:
    """The kind of an error a provider reported inside a stream, from the names its error body
    gives (a code before a type: the first one known wins). An unknown name counts as a server
    error: the request had been accepted, and it went wrong on the provider's side."""
    for name in names:
        if name and name in ERROR_TYPE_STATUS:
            return kind_from_status(ERROR_TYPE_STATUS[name])
    return "server"


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            import time

            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


async def stream_with_retries(
    attempt_stream: Callable[[], AsyncIterator[TextDelta | Completion]],
    request: ModelRequest,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[TextDelta | Completion]:
    attempt = 0
    while True:
        try:
            async for item in attempt_stream():
                yield item
            return
        except ProviderFailure as failure:
            attempt += 1
            if not failure.retryable or attempt > policy.max_retries:
                raise ProviderError(
                    _explain(request.model, failure, attempt), kind=failure.kind, model=request.model
                ) from None
            delay = policy.delay(attempt, failure)
            if request.on_retry is not None:
                request.on_retry(RetryInfo(request.model, attempt, delay, str(failure)))
            await sleep(delay)


def _explain(model: str, failure: ProviderFailure, attempts: int) -> str:
    if failure.kind == "not_found":
        return f"{model}: the provider does not know this model ({failure})"
    if failure.kind == "auth":
        return f"{model}: the provider refused the API key ({failure})"
    tries = f" after {attempts} attempts" if failure.retryable and attempts > 1 else ""
    return f"{model}: {failure}{tries}"
