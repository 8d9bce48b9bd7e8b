"""Retries with exponential backoff and jitter, honouring Retry-After.

Backends turn their library's exceptions into ``ProviderFailure``s named for what happened (see
``failures``); this module decides whether to try again (a failure of a server on this machine gets
one quick retry where waiting does not mend it), reports every retry (the engine makes it an event),
makes a failure's one last ``fallback`` attempt when the retries run out, and raises a
``ProviderError`` with a clear message when they do or the failure is not worth retrying. That error
carries what the engine may want to say more with, as attributes: ``status``, ``url``, ``window``
and ``prompt_tokens`` (each None when unknown).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from rlm_tui.errors import ContextWindowError, ProviderError
from rlm_tui.llm.base import Completion, ModelRequest, RetryInfo, TextDelta
from rlm_tui.llm.failures import Attempt, ProviderFailure

MAX_RETRY_AFTER = 300.0
# Failures of a server on this machine or the local network that waiting does not mend: a refused
# connection (it is not running, or not yet) and an empty reply (llama-cpp-python's answer to a
# prompt over its window). One quick retry covers a server still starting; backing off for 15 s
# only hides the answer.
FAST_LOCALLY = frozenset({"connect", "empty_reply"})
LOCAL_RETRIES = 1
LOCAL_RETRY_DELAY = 0.25
RATE_LIMIT_RETRIES = 8
# 429s of a request sent while others to the same endpoint were in flight: the endpoint's limit is
# being found (the router halves it), so such a refusal is a wait, not a strike; bounded all the same.
CROWDED_RETRIES = 24


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, failure: ProviderFailure) -> float:
        if failure.retry_after is not None:
            return min(max(failure.retry_after, 0.0), MAX_RETRY_AFTER)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        if failure.kind in FAST_LOCALLY and failure.local:
            backoff = min(backoff, LOCAL_RETRY_DELAY)
        return backoff * (0.5 + random.random() / 2)  # "equal jitter": spread clients apart

    def retries_for(self, failure: ProviderFailure) -> int:
        """How many retries this failure gets in all."""
        if not failure.retryable:
            return 0
        if failure.kind in FAST_LOCALLY and failure.local:
            return min(self.max_retries, LOCAL_RETRIES)
        if failure.kind == "rate_limit" and self.max_retries:
            # the router lowers the endpoint's concurrency on each 429: a few more tries let the
            # calls already refused wait for it instead of failing
            return max(self.max_retries, RATE_LIMIT_RETRIES)
        return self.max_retries


async def stream_with_retries(
    attempt_stream: Attempt,
    request: ModelRequest,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[TextDelta | Completion]:
    attempt = 0  # failures that count against the call
    crowded = 0  # 429s while the endpoint's limit was being found (see CROWDED_RETRIES)
    while True:
        try:
            async for item in attempt_stream():
                yield item
            return
        except ProviderFailure as failure:
            if failure.crowded and crowded < CROWDED_RETRIES and policy.retries_for(failure):
                crowded += 1
            else:
                attempt += 1
            if attempt > policy.retries_for(failure):
                if failure.fallback is None:
                    raise provider_error(request.model, failure, attempt + crowded) from None
                # One last attempt of another kind (bounded: it is never retried), which either
                # answers or says what went wrong better than the failures before it.
                try:
                    async for item in failure.fallback():
                        yield item
                    return
                except ProviderFailure as last:
                    raise provider_error(request.model, last, attempt + crowded + 1) from None
            delay = policy.delay(max(attempt, 1), failure)
            if request.on_retry is not None:
                request.on_retry(RetryInfo(request.model, attempt + crowded, delay, str(failure)))
            await sleep(delay)


def provider_error(model: str, failure: ProviderFailure, attempts: int) -> ProviderError:
    """The ProviderError the caller sees, with the failure's details (a ContextWindowError, with
    both sizes when the server gave them, for a prompt over the window)."""
    message = _explain(model, failure, attempts)
    if failure.kind == "context_window":
        return ContextWindowError(
            message,
            model=model,
            window=failure.window,
            prompt_tokens=failure.prompt_tokens,
            status=failure.status,
            url=failure.url,
        )
    return ProviderError(message, kind=failure.kind, model=model, status=failure.status, url=failure.url)  # type: ignore[arg-type]


def _explain(model: str, failure: ProviderFailure, attempts: int) -> str:
    if failure.kind == "not_found":
        return f"{model}: the provider does not know this model ({failure})"
    if failure.kind == "auth":
        return f"{model}: the provider refused the API key ({failure})"
    tries = f" after {attempts} attempts" if failure.retryable and attempts > 1 else ""
    if failure.kind == "connect" and failure.local:
        return f"{model}: {failure}{tries}; is the server running?"
    if failure.kind == "empty_reply":
        return (
            f"{model}: {failure}{tries}; a local server does this when the prompt is over its context window"
        )
    return f"{model}: {failure}{tries}"
