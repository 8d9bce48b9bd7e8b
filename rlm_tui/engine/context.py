"""State shared by everything that runs during one turn: events, budget, usage, cancellation.

A turn may fan out into many concurrent pieces (sub-calls, child RLMs with their own workers);
each registers here, so one ``cancel()`` (the UI's Esc) reaches all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from rlm_tui.engine.budget import TurnBudget
from rlm_tui.engine.cache import CallCache
from rlm_tui.engine.repl import REPL, REPLFactory
from rlm_tui.engine.settings import EngineSettings
from rlm_tui.engine.usage import UsageTally
from rlm_tui.errors import LimitReached, ProviderError, TurnCancelled
from rlm_tui.events import Event, EventSink, Notice
from rlm_tui.events.text import utf8_safe
from rlm_tui.llm.base import Completion, ModelClient, ModelRequest, RetryInfo, TextDelta

T = TypeVar("T")


class SessionShared:
    """What lives for a whole session: the sub-call cache and the per-model concurrency caps."""

    def __init__(self, max_concurrency: int, cache_entries: int = 4096) -> None:
        self.max_concurrency = max_concurrency
        self.cache = CallCache(cache_entries)
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._child_slots: dict[int, asyncio.Semaphore] = {}
        self.system_prompt_recorded: str | None = None  # events carry it once, not once per RLM

    def semaphore(self, model: str) -> asyncio.Semaphore:
        if model not in self._semaphores:
            self._semaphores[model] = asyncio.Semaphore(self.max_concurrency)
        return self._semaphores[model]

    def child_slots(self, depth: int) -> asyncio.Semaphore:
        # One pool per depth: a child holding a slot while its own children wait for one at the
        # same depth could otherwise deadlock the pool.
        if depth not in self._child_slots:
            self._child_slots[depth] = asyncio.Semaphore(self.max_concurrency)
        return self._child_slots[depth]


class TurnContext:
    def __init__(
        self,
        *,
        session_id: str,
        turn: int,
        settings: EngineSettings,
        client: ModelClient,
        emit: EventSink,
        shared: SessionShared,
        workdir: Path,
        repl_factory: REPLFactory,
        run_child: Any = None,  # (ctx, node, depth, model, prompt, context) -> ChildOutcome
    ) -> None:
        self.session_id = session_id
        self.turn = turn
        self.settings = settings
        self.client = client
        self._emit = emit
        self.shared = shared
        self.workdir = workdir
        self.repl_factory = repl_factory  # child RLMs get their own REPL from it
        self.run_child = run_child  # an rlm_query (engine.children): given here, not imported by rlm
        self.budget = TurnBudget(settings.limits)
        self.tally = UsageTally()
        self.cancelled = False
        self.repls: set[REPL] = set()
        self._active: set[asyncio.Future] = set()
        self._interrupts: set[asyncio.Future] = set()
        self.notices_sent: set[str] = set()

    def event(self, cls: type[Event], node_id: str, parent_id: str | None, **fields: Any) -> None:
        self._emit(
            cls(session_id=self.session_id, turn=self.turn, node_id=node_id, parent_id=parent_id, **fields)
        )

    def check(self) -> None:
        if self.cancelled:
            raise TurnCancelled()
        self.budget.check()

    def cancel(self) -> None:
        self.cancelled = True
        for repl in list(self.repls):
            task = asyncio.ensure_future(repl.interrupt())
            self._interrupts.add(task)
            task.add_done_callback(self._interrupts.discard)
        for task in list(self._active):
            task.cancel()

    async def guarded(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        """Await something that cancel() must be able to stop, under an optional timeout."""
        if self.cancelled:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise TurnCancelled()
        task = asyncio.ensure_future(awaitable)
        self._active.add(task)
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise TimeoutError
            if task.cancelled():
                raise TurnCancelled()
            return task.result()
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._active.discard(task)

    async def call_model(
        self,
        request: ModelRequest,
        on_delta: Callable[[str], None] | None = None,
        *,
        timeout: float | None = None,
        enforce_time_limit: bool = True,
    ) -> Completion:
        """One model call under the model's concurrency cap, cancellable, within the turn's time.
        Its text comes back without lone surrogates (``events.text``)."""
        if enforce_time_limit:
            remaining = self.budget.remaining_seconds()
            if remaining is not None:
                if remaining <= 0:
                    raise self.budget.time_limit()
                timeout = remaining if timeout is None else min(timeout, remaining)

        async def run() -> Completion:
            async with self.shared.semaphore(request.model):
                result: Completion | None = None
                async for item in self.client.stream(request):
                    if isinstance(item, TextDelta):
                        if on_delta is not None and item.text:
                            on_delta(utf8_safe(item.text))
                    elif isinstance(item, Completion):
                        result = item
                if result is None:
                    raise ProviderError(
                        f"{request.model}: the stream ended without a completion", kind="bad_response"
                    )
                # model text enters the engine here: from now on it can always be encoded
                text = utf8_safe(result.text)
                return result if text is result.text else dataclasses.replace(result, text=text)

        try:
            return await self.guarded(run(), timeout)
        except TimeoutError:
            remaining = self.budget.remaining_seconds()
            if enforce_time_limit and remaining is not None and remaining <= 0:
                self.budget.exhausted = self.budget.time_limit()
                raise self.budget.exhausted from None
            raise ProviderError(
                f"{request.model}: no reply within {timeout:g} s", kind="timeout", model=request.model
            ) from None

    def retry_reporter(self, node_id: str, parent_id: str | None) -> Callable[[RetryInfo], None]:
        def report(info: RetryInfo) -> None:
            self.event(
                Notice,
                node_id,
                parent_id,
                kind="retry",
                message=f"{info.model}: {info.reason}; retry {info.attempt} in {info.delay:.1f} s",
                data={
                    "model": info.model,
                    "attempt": info.attempt,
                    "delay": info.delay,
                    "reason": info.reason,
                },
            )

        return report

    def charge(self, model: str, cost_usd: float | None, node_id: str, parent_id: str | None) -> None:
        """Count a call's cost against the turn's budget. A call without a price cannot be counted:
        with a cost limit set, say so once per model, and let the turn go on."""
        limit = self.settings.limits.max_cost_usd
        if cost_usd is None and limit is not None:
            self.notice_once(
                f"unpriced:{model}",
                node_id,
                parent_id,
                "limit",
                f"the cost limit (${limit:g}) cannot be enforced for {model}: its price is unknown",
            )
        self.budget.charge(cost_usd)

    def notice_once(self, key: str, node_id: str, parent_id: str | None, kind: str, message: str) -> None:
        if key in self.notices_sent:
            return
        self.notices_sent.add(key)
        self.event(Notice, node_id, parent_id, kind=kind, message=message)


__all__ = ["LimitReached", "SessionShared", "TurnCancelled", "TurnContext"]
