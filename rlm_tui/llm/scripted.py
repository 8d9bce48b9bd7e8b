"""An in-process model client driven by a script: for engine tests and benchmarks.

The responder is a function of the request (sync or async) returning the reply text or a
``Reply``; so a test can answer the root model from a list and sub-calls from a rule.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rlm_tui.errors import ContextWindowError, ProviderError
from rlm_tui.llm.base import (
    Completion,
    Message,
    ModelLimits,
    ModelRequest,
    TextDelta,
    TokenCount,
    Usage,
    estimate_tokens,
)


@dataclass(frozen=True)
class Reply:
    text: str = ""
    delay: float = 0.0
    usage: Usage | None = None
    error: str | None = None  # raise ProviderError(error) instead of answering
    error_kind: str = "error"  # the ProviderError's kind
    window: int | None = None  # with error_kind "context_window": the window the "server" names
    stop_reason: str = "end_turn"  # "max_tokens": the reply was cut at the output limit
    chunk_chars: int = 64
    chunk_delay: float = 0.0  # seconds between deltas: a model streaming at a given speed


Responder = Callable[[ModelRequest], Any]


class ScriptedClient:
    def __init__(
        self,
        responder: Responder,
        *,
        context_windows: dict[str, int] | None = None,
        price_per_token: float | None = 0.0,
    ) -> None:
        self.responder = responder
        self.windows = context_windows or {}
        self.price_per_token = price_per_token
        self.requests: list[ModelRequest] = []

    async def limits(self, model: str) -> ModelLimits:
        window = self.windows.get(model)
        return ModelLimits(window, None, "config" if window else "unknown")

    async def count_tokens(self, model: str, system: str | None, messages: list[Message]) -> TokenCount:
        text = (system or "") + "".join(m.content for m in messages)
        return TokenCount(estimate_tokens(text), exact=False)

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        self.requests.append(request)
        reply = self.responder(request)
        if inspect.isawaitable(reply):
            reply = await reply
        if not isinstance(reply, Reply):
            reply = Reply(str(reply))
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.error:
            if reply.error_kind == "context_window":
                raise ContextWindowError(reply.error, model=request.model, window=reply.window)
            raise ProviderError(reply.error, kind=reply.error_kind, model=request.model)  # type: ignore[arg-type]
        for i in range(0, len(reply.text), reply.chunk_chars):
            if reply.chunk_delay and i:
                await asyncio.sleep(reply.chunk_delay)
            yield TextDelta(reply.text[i : i + reply.chunk_chars])
        usage = reply.usage
        if usage is None:
            prompt = (request.system or "") + "".join(m.content for m in request.messages)
            tin, tout = estimate_tokens(prompt), estimate_tokens(reply.text)
            cost = None if self.price_per_token is None else (tin + tout) * self.price_per_token
            usage = Usage(input_tokens=tin, output_tokens=tout, cost_usd=cost)
        yield Completion(reply.text, usage, reply.stop_reason)


def sequence(replies: Iterable[Any]) -> Callable[[], Any]:
    """Hand out replies in order; past the end, say so loudly (a test scripted too few)."""
    items = list(replies)
    position = 0

    def next_reply() -> Any:
        nonlocal position
        if position >= len(items):
            raise AssertionError(f"script exhausted after {len(items)} replies")
        position += 1
        return items[position - 1]

    return next_reply


def by_purpose(root: Iterable[Any], sub: Callable[[ModelRequest], Any] | None = None) -> Responder:
    """Root (and best-answer) calls take the next scripted reply; sub-calls go to ``sub``."""
    next_root = sequence(root)

    def respond(request: ModelRequest) -> Any:
        if request.purpose == "sub":
            if sub is None:
                raise AssertionError("unexpected sub-call")
            return sub(request)
        return next_root()

    return respond
