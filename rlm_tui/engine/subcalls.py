"""Sub-calls from model code: llm_query, llm_query_batched, rlm_query, rlm_query_batched.

The worker forwards each call over its channel; this module answers it: cache, budget, context
window check, the model call or a child RLM, and the SubCall events of the tree.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rlm_tui.engine.cache import Entry
from rlm_tui.engine.context import TurnContext
from rlm_tui.engine.fitting import MIN_OUTPUT, output_budget
from rlm_tui.errors import ProviderError, TurnCancelled, TurnStuck
from rlm_tui.events import SubCallFinished, SubCallStarted, nodes
from rlm_tui.events.text import utf8_safe
from rlm_tui.llm.base import Message, ModelRequest, Usage, estimate_tokens
from rlm_tui.sandbox.types import SubCallHandler, SubCallRejected, SubCallRequest


class ChildOutcome:
    def __init__(self, answer: str, usage: Usage, stopped_by: str | None = None) -> None:
        self.answer = answer
        self.usage = usage
        self.stopped_by = stopped_by


# (ctx, node_id, depth, model, prompt, context_blob) -> the child's outcome
ChildRunner = Callable[[TurnContext, str, int, str, str, bytes | None], Awaitable[ChildOutcome]]


class SubCalls:
    def __init__(self, ctx: TurnContext, child_runner: ChildRunner) -> None:
        self.ctx = ctx
        self.run_child = child_runner

    def handler(self, cell_node: str, depth: int) -> SubCallHandler:
        """The handler for sub-calls made by one cell of an RLM at ``depth``."""
        counter = itertools.count(1)

        def node() -> str:
            return nodes.sub_call(cell_node, next(counter))

        async def handle(req: SubCallRequest) -> Any:
            args = _safe_args(req.args)
            model = args.get("model")
            if req.fn == "llm_query":
                return await self.llm(node(), cell_node, depth + 1, args["prompt"], model)
            if req.fn == "llm_query_batched":
                nodes = [node() for _ in args["prompts"]]
                return await _batch(
                    self.llm(n, cell_node, depth + 1, p, model)
                    for n, p in zip(nodes, args["prompts"], strict=True)
                )
            blobs: list[bytes | None] = (
                list(req.blobs)
                if args.get("has_context")
                else [None] * len(args.get("prompts", [args.get("prompt")]))
            )
            if req.fn == "rlm_query":
                return await self.rlm(node(), cell_node, depth + 1, args["prompt"], blobs[0], model)
            if req.fn == "rlm_query_batched":
                nodes = [node() for _ in args["prompts"]]
                return await _batch(
                    self.rlm(n, cell_node, depth + 1, p, b, model)
                    for n, p, b in zip(nodes, args["prompts"], blobs, strict=True)
                )
            raise SubCallRejected(f"unknown sub-call {req.fn!r}")

        return handle

    def _finished(
        self,
        node: str,
        parent: str,
        kind: str,
        model: str,
        started: float,
        *,
        response: str | None,
        usage: Usage | None = None,
        cached: bool = False,
        error: str | None = None,
    ) -> None:
        """The SubCallFinished event of a call (a cached answer costs nothing)."""
        if usage is not None:
            usage_dict, cost = usage.to_dict(), usage.cost_usd
        else:
            usage_dict, cost = {}, (0.0 if cached else None)
        self.ctx.event(
            SubCallFinished,
            node,
            parent,
            kind=kind,
            model=model,
            response=response,
            usage=usage_dict,
            cost_usd=cost,
            duration=time.perf_counter() - started,
            cached=cached,
            error=error,
        )

    async def _from_cache(
        self, entry: Entry, node: str, parent: str, kind: str, model: str, prompt: str, depth: int
    ) -> str | None:
        """Wait for an identical call's answer; None when it failed (the caller tries itself)."""
        started = time.perf_counter()
        self.ctx.event(
            SubCallStarted, node, parent, kind=kind, model=model, prompt=prompt, depth=depth, cached=True
        )
        try:
            with self.ctx.shared.cache.waiting(node, entry.holder):
                text = await asyncio.shield(entry.future)
        except Exception as exc:
            error = f"the identical call it waited for failed ({exc}); trying again"
            self._finished(node, parent, kind, model, started, response=None, cached=True, error=error)
            return None  # the first call failed; this one makes its own attempt, under a new node
        self.ctx.tally.cache_hits += 1
        self._finished(node, parent, kind, model, started, response=text, cached=True)
        return text

    async def _admit(self, model: str, prompt: str) -> int | None:
        """Take a sub-call from the budget and check its prompt fits the model's window, with room
        for a reply; returns the reply's max_tokens (None: no model call, a child's prompt)."""
        reason = self.ctx.budget.take_sub_call()
        if reason is not None:
            raise SubCallRejected(reason, "BudgetExceeded")
        if not prompt:
            return None
        limits = await self.ctx.client.limits(model)
        reply = output_budget(self.ctx.settings.max_output_tokens, limits)
        window = limits.context_window
        if window is None:
            return reply
        tokens = estimate_tokens(prompt)
        if tokens + reply > window * 0.8:  # near the window: count exactly where the client can
            tokens = (await self.ctx.client.count_tokens(model, None, [Message("user", prompt)])).tokens
        if tokens + reply > window:
            if window - tokens >= MIN_OUTPUT:
                return window - tokens
            raise SubCallRejected(
                f"the prompt is about {tokens:,} tokens ({len(prompt):,} characters) but {model} accepts at "
                f"most {window:,} tokens in all ({limits.source}), reply included; split the input into "
                "smaller chunks",
                "ContextWindowError",
            )
        return reply

    async def llm(self, node: str, parent: str, depth: int, prompt: str, model: str | None) -> str:
        ctx = self.ctx
        model = model or ctx.settings.sub_model

        async def call(max_tokens: int | None) -> tuple[str, Usage]:
            request = ModelRequest(
                model=model,
                messages=[Message("user", prompt)],
                purpose="sub",
                depth=depth,
                max_tokens=max_tokens,
                on_retry=ctx.retry_reporter(node, parent),
            )
            completion = await ctx.call_model(request)
            ctx.tally.add(depth, completion.usage)
            ctx.charge(model, completion.usage.cost_usd, node, parent)
            return completion.text, completion.usage

        return await self._tracked(
            ("llm", model, prompt), node, parent, "llm", model, prompt, depth, prompt, call
        )

    async def rlm(
        self, node: str, parent: str, depth: int, prompt: str, context_blob: bytes | None, model: str | None
    ) -> str:
        ctx = self.ctx
        if depth >= ctx.settings.limits.max_depth:
            ctx.notice_once(
                "depth",
                node,
                parent,
                "limit",
                f"rlm_query at depth {depth} reaches max_depth ({ctx.settings.limits.max_depth}): "
                "answered by a plain llm_query",
            )
            return await self.llm(node, parent, depth, prompt, model)
        model = model or ctx.settings.sub_model
        digest = hashlib.blake2b(context_blob or b"", digest_size=16).hexdigest()

        async def call(max_tokens: int | None) -> tuple[str, Usage]:
            async with ctx.shared.child_slots(depth):
                outcome = await self.run_child(ctx, node, depth, model, prompt, context_blob)
            return outcome.answer, outcome.usage

        # The child's prompt goes to its REPL, not into one model call: no context-window check.
        return await self._tracked(
            ("rlm", model, prompt, digest), node, parent, "rlm", model, prompt, depth, "", call
        )

    async def _tracked(
        self,
        key: tuple,
        node: str,
        parent: str,
        kind: str,
        model: str,
        prompt: str,
        depth: int,
        admitted_prompt: str,
        call: Callable[[int | None], Awaitable[tuple[str, Usage]]],
    ) -> str:
        """Cache, budget and window check, the SubCall events, and errors as cell exceptions."""
        ctx = self.ctx
        cache = ctx.shared.cache
        entry = cache.get(key)
        shared = entry is None or cache.can_wait(node, entry)  # else: its own call, not cached
        if entry is not None and shared:
            cached = await self._from_cache(entry, node, parent, kind, model, prompt, depth)
            if cached is not None:
                return cached
            node = nodes.retry(node)
        max_tokens = await self._admit(model, admitted_prompt)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        if shared:
            cache.put(key, fut, node)
        ctx.event(SubCallStarted, node, parent, kind=kind, model=model, prompt=prompt, depth=depth)
        started = time.perf_counter()
        try:
            text, usage = await call(max_tokens)
        except BaseException as exc:
            _forget(ctx, key, fut, exc)
            message = (
                "cancelled" if isinstance(exc, asyncio.CancelledError) else str(exc) or type(exc).__name__
            )
            self._finished(node, parent, kind, model, started, response=None, error=message)
            if isinstance(exc, ProviderError | TurnStuck):
                prefix = "the child RLM failed: " if kind == "rlm" else ""
                raise SubCallRejected(prefix + message, "SubCallError") from exc
            raise
        fut.set_result(text)
        self._finished(node, parent, kind, model, started, response=text, usage=usage)
        return text


def _safe_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """A sub-call's arguments from model code, its prompts made safe to send and store."""
    safe = dict(args)
    if isinstance(safe.get("prompt"), str):
        safe["prompt"] = utf8_safe(safe["prompt"])
    if isinstance(safe.get("prompts"), list | tuple):
        safe["prompts"] = [utf8_safe(p) if isinstance(p, str) else p for p in safe["prompts"]]
    return safe


def _forget(ctx: TurnContext, key: tuple, fut: asyncio.Future, exc: BaseException) -> None:
    ctx.shared.cache.drop(key, fut)
    if not fut.done():
        fut.set_exception(exc if isinstance(exc, Exception) else TurnCancelled("cancelled"))
        fut.exception()  # mark retrieved: nobody else may be waiting


async def _batch(calls: Any) -> list[str]:
    """Run calls concurrently; a failed item becomes an error string, never a failed batch.
    If the batch itself is cancelled (Esc, a limit), every item still running is cancelled too."""

    async def one(call: Awaitable[str]) -> str:
        try:
            return await call
        except SubCallRejected as exc:
            return f"Error: {exc}"
        except Exception as exc:  # e.g. a child context that cannot be unpickled
            return f"Error: {type(exc).__name__}: {exc}"

    tasks = [asyncio.ensure_future(one(c)) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
