"""The RLM loop of one node (the root of a turn, or a child from rlm_query).

Each iteration: ask the model, run every code block of its reply in order in the worker, show it
the truncated output, repeat; until FINAL / FINAL_VAR (in code, or as text in a reply without
code), ``answer["ready"]``, a reply without code, or a limit (then one last call for a best answer).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass

from rlm_tui.engine import prompts
from rlm_tui.engine.context import TurnContext
from rlm_tui.engine.repl import REPL
from rlm_tui.engine.replies import TextFinal, code_blocks, text_final
from rlm_tui.engine.subcalls import ChildOutcome, SubCalls
from rlm_tui.engine.usage import UsageTally
from rlm_tui.errors import LimitReached, ProviderError, SandboxError, TurnCancelled
from rlm_tui.events import (
    CellFinished,
    CellOutput,
    CellStarted,
    ModelDelta,
    ModelFinished,
    ModelStarted,
    Notice,
    nodes,
)
from rlm_tui.llm.base import Completion, Message, ModelRequest
from rlm_tui.sandbox.rendering import render_value
from rlm_tui.sandbox.types import CellResult


@dataclass
class RunOutcome:
    answer: str
    stopped_by: str | None = None


class RLMRun:
    def __init__(
        self,
        ctx: TurnContext,
        repl: REPL,
        *,
        depth: int,
        node: str,
        parent: str | None,
        model: str,
        first_message: str,
    ) -> None:
        self.ctx = ctx
        self.repl = repl
        self.depth = depth
        self.node = node  # iterations hang below this node
        self.parent = parent
        self.model = model
        self.messages = [Message("user", first_message)]
        self.subcalls = SubCalls(ctx, run_child)
        self.tally = UsageTally()  # this node's own model calls (the turn's tally has them all)
        self._first_cell = True
        self._sent = 0  # messages already reported in ModelStarted events
        self._unseen_outputs: list[tuple[int, str, str]] = []  # cells run when a limit was reached

    async def run(self) -> RunOutcome:
        limits = self.ctx.settings.limits
        try:
            for iteration in range(1, limits.max_iterations + 1):
                self.ctx.check()
                outcome = await self._iterate(iteration)
                if outcome is not None:
                    return outcome
            raise LimitReached("iterations", f"{limits.max_iterations} replies without a final answer")
        except LimitReached as limit:
            return await self._best_answer(limit)

    async def _iterate(self, iteration: int) -> RunOutcome | None:
        ctx = self.ctx
        node = nodes.iteration(self.node, iteration)
        reply = await self._ask(node, iteration)
        text = reply.text
        self.messages.append(Message("assistant", text if text.strip() else "(empty reply)"))
        blocks = code_blocks(text)
        written_final = text_final(text)
        if not blocks:
            if written_final is not None:
                try:
                    answer = await self._resolve_text_final(written_final)
                except SandboxError as exc:  # the REPL failed: say so, not "no such variable"
                    self.messages.append(Message("user", prompts.REPL_FAILED.format(error=exc)))
                    return None
                if answer is not None:
                    return RunOutcome(answer)
                name = written_final.variable_name() or written_final.argument
                self.messages.append(Message("user", prompts.FINAL_VAR_MISSING.format(name=name)))
                return None
            if not text.strip():
                self.messages.append(Message("user", prompts.EMPTY_REPLY))
                return None
            return RunOutcome(text.strip())

        outputs: list[tuple[int, str, str]] = []
        skipped = 0
        for index, code in enumerate(blocks, 1):
            result = await self._run_cell(node, iteration, index, code)
            shown, _ = result.for_model(ctx.settings.sandbox.model_output_chars)
            outputs.append((index, result.status, shown))
            if result.final is not None:
                return RunOutcome(result.final)
            if ctx.cancelled:
                raise TurnCancelled()
            if result.status != "ok":
                skipped = len(blocks) - index
                break
        try:
            ctx.check()
        except LimitReached:
            # The best-answer request must still show the output of the cells that crossed the limit.
            self._unseen_outputs = outputs
            raise
        stop_note = None
        if reply.stop_reason in ("max_tokens", "length"):
            stop_note = "Your reply was cut off at the output token limit; write shorter replies."
        self.messages.append(
            Message(
                "user",
                prompts.cell_feedback(
                    outputs,
                    skipped=skipped,
                    ignored_text_final=written_final is not None,
                    iteration=iteration,
                    max_iterations=ctx.settings.limits.max_iterations,
                    stop_note=stop_note,
                ),
            )
        )
        return None

    async def _ask(
        self, node: str, iteration: int, *, purpose: str = "root", timeout: float | None = None
    ) -> Completion:
        ctx = self.ctx
        system = prompts.SYSTEM_PROMPT
        new_messages = [m.to_dict() for m in self.messages[self._sent :]]
        if self._sent == 0 and ctx.shared.system_prompt_recorded != system:
            # recorded once per session (and again if it changes): every RLM's prompt starts with
            # it, so a prompt can be shown and exported whole
            ctx.shared.system_prompt_recorded = system
            new_messages.insert(0, {"role": "system", "content": system})
        self._sent = len(self.messages)
        ctx.event(
            ModelStarted,
            node,
            self.node,
            model=self.model,
            depth=self.depth,
            iteration=iteration,
            messages=new_messages,
            prompt_chars=len(system) + sum(len(m.content) for m in self.messages),
        )
        request = ModelRequest(
            model=self.model,
            messages=list(self.messages),
            system=system,
            purpose=purpose,
            depth=self.depth,
            max_tokens=ctx.settings.max_output_tokens,
            on_retry=ctx.retry_reporter(node, self.node),
        )
        started = time.perf_counter()
        try:
            completion = await ctx.call_model(
                request,
                lambda delta: ctx.event(ModelDelta, node, self.node, text=delta),
                timeout=timeout,
                enforce_time_limit=purpose != "best_answer",
            )
        except (ProviderError, LimitReached, TurnCancelled) as exc:
            ctx.event(
                ModelFinished,
                node,
                self.node,
                model=self.model,
                text="",
                usage={},
                cost_usd=None,
                duration=time.perf_counter() - started,
                error="cancelled" if isinstance(exc, TurnCancelled) else str(exc) or type(exc).__name__,
            )
            raise
        ctx.tally.add(self.depth, completion.usage)
        self.tally.add(self.depth, completion.usage)
        ctx.event(
            ModelFinished,
            node,
            self.node,
            model=self.model,
            text=completion.text,
            usage=completion.usage.to_dict(),
            cost_usd=completion.usage.cost_usd,
            duration=time.perf_counter() - started,
        )
        ctx.charge(self.model, completion.usage.cost_usd, node, self.node)
        return completion

    async def _run_cell(self, iteration_node: str, iteration: int, index: int, code: str) -> CellResult:
        ctx = self.ctx
        node = nodes.cell(iteration_node, index)
        ctx.event(
            CellStarted, node, iteration_node, code=code, depth=self.depth, iteration=iteration, index=index
        )
        timeout = ctx.settings.limits.cell_timeout
        remaining = ctx.budget.remaining_seconds()
        if remaining is not None:
            timeout = max(0.01, min(timeout, remaining))
        result = await self.repl.run_cell(
            code,
            timeout=timeout,
            on_output=lambda stream, text: ctx.event(
                CellOutput, node, iteration_node, stream=stream, text=text
            ),
            on_call=self.subcalls.handler(node, self.depth),
            label=f"{iteration}.{index}",
            new_turn=self._first_cell,
        )
        self._first_cell = False
        shown, truncated = result.for_model(ctx.settings.sandbox.model_output_chars)
        ctx.event(
            CellFinished,
            node,
            iteration_node,
            status=result.status,
            output_for_model=shown,
            output_chars=result.total_chars,
            dropped_chars=result.dropped_chars,
            truncated=truncated,
            error=result.error,
            duration=result.duration,
            final=result.final,
        )
        if result.restart_note:
            ctx.event(Notice, node, iteration_node, kind="worker_restarted", message=result.restart_note)
        return result

    async def _resolve_text_final(self, final: TextFinal) -> str | None:
        """The answer a FINAL/FINAL_VAR line names, or None if it names a missing variable.
        ``SandboxError`` when the REPL could not be asked."""
        name = final.variable_name()
        if final.kind == "FINAL_VAR" and name is not None:
            return await self.repl.render_value(name)
        is_literal, value = final.literal()
        if is_literal:
            return render_value(value)
        if name is not None:
            rendered = await self.repl.render_value(name)
            if rendered is not None:
                return rendered
        return final.argument

    async def _best_answer(self, limit: LimitReached) -> RunOutcome:
        ctx = self.ctx
        note = prompts.limit_note(limit.limit, limit.detail)
        ctx.event(Notice, self.node, self.parent, kind="limit", message=note, data={"limit": limit.limit})
        if ctx.cancelled:
            raise TurnCancelled()
        request = prompts.best_answer_request(limit.detail, self._unseen_outputs)
        self._unseen_outputs = []
        self.messages.append(Message("user", request))
        try:
            reply = await self._ask(
                nodes.best_answer(self.node),
                0,
                purpose="best_answer",
                timeout=ctx.settings.best_answer_seconds,
            )
            text = reply.text.strip()
            written = text_final(text)
            if written is not None:
                text = await self._resolve_text_final(written) or text
        except (ProviderError, LimitReached, TimeoutError, SandboxError) as exc:
            text = f"No answer was reached before the limit, and asking for a best answer failed ({exc})."
        return RunOutcome(f"{text}\n\n{note}" if text else note, stopped_by=limit.limit)


async def run_child(
    ctx: TurnContext, node: str, depth: int, model: str, prompt: str, context_blob: bytes | None
) -> ChildOutcome:
    """An rlm_query: a child RLM with its own worker, whose answer returns to the calling cell."""
    workdir = ctx.workdir / ".children" / node.replace(".", "_")
    repl = ctx.repl_factory(workdir, ctx.settings.sandbox)
    ctx.repls.add(repl)
    try:
        await repl.start()
        if context_blob is not None:
            await repl.set_pickled("context", context_blob)
        else:
            await repl.set_vars(context=prompt)
        try:
            table, _ = await repl.var_table()
        except SandboxError as exc:
            table = f"(the variable table could not be built: {exc})"
        run = RLMRun(
            ctx,
            repl,
            depth=depth,
            node=node,
            parent=node,
            model=model,
            first_message=prompts.child_message(depth=depth, var_table=table, prompt=prompt),
        )
        outcome = await run.run()
        usage = run.tally.total()
        return ChildOutcome(outcome.answer, usage, outcome.stopped_by)
    finally:
        ctx.repls.discard(repl)
        await repl.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
