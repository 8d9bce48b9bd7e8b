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
