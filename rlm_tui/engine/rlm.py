"""The RLM loop of one node (the root of a turn, or a child from rlm_query).

Each iteration: ask the model, run every code block of its reply in order in the REPL, show it
the truncated output, repeat; until FINAL / FINAL_VAR (in code, or as text in a reply without
code), ``answer["ready"]``, a reply without code, or a limit (then one last call for a best answer).
Every call is fitted to the model's context window first (``fitting``); a weak model gets notes
when its code did not run or it repeats itself (``coaching``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from rlm_tui.engine import prompts
from rlm_tui.engine.coaching import Coach
from rlm_tui.engine.context import TurnContext
from rlm_tui.engine.fitting import (
    CHARS_PER_TOKEN,
    COMPACT_AT,
    COMPACT_TO,
    MIN_OUTPUT,
    ReplyOutput,
    does_not_fit,
    output_budget,
    output_chars_for,
    plan_compaction,
    reply_output_chars_for,
)
from rlm_tui.engine.repl import REPL
from rlm_tui.engine.replies import TextFinal, code_blocks, text_final, unrun_code
from rlm_tui.engine.subcalls import SubCalls
from rlm_tui.engine.usage import UsageTally
from rlm_tui.errors import ContextWindowError, LimitReached, ProviderError, SandboxError, TurnCancelled
from rlm_tui.events import (
    CellFinished,
    CellOutput,
    CellStarted,
    Compacted,
    ModelDelta,
    ModelFinished,
    ModelStarted,
    Notice,
    nodes,
)
from rlm_tui.events.text import utf8_safe
from rlm_tui.llm.base import Completion, Message, ModelLimits, ModelRequest
from rlm_tui.sandbox.rendering import render_value
from rlm_tui.sandbox.truncate import truncate_for_model
from rlm_tui.sandbox.types import CellResult

MAX_CONTINUATIONS = 3  # a reply cut at the output limit is continued this many times at most


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
        self.subcalls = SubCalls(ctx, ctx.run_child)
        self.tally = UsageTally()  # this node's own model calls (the turn's tally has them all)
        self.coach = Coach()
        self.limits = ModelLimits(None, None)  # learnt before the first call
        self._first_cell = True
        self._sent = 0  # messages already reported in ModelStarted events
        self._unseen_outputs: list[tuple[int, str, str]] = []  # cells run when a limit was reached
        self._cut_parts: list[str] = []  # a reply cut at the output limit, being continued
        self._ran: dict[int, list[str]] = {}  # iteration -> one line per cell it ran
        self._first_pair = 1  # the iteration of the oldest (reply, feedback) pair still in messages
        self._compactions = 0

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
            if self._cut_parts and limit.limit == "iterations":  # the answer was there, cut short
                return RunOutcome(
                    f"{''.join(self._cut_parts)}\n\n{prompts.CUT_NOTE}", stopped_by="output_limit"
                )
            return await self._best_answer(limit)

    # -- one iteration ---------------------------------------------------------------------------

    async def _iterate(self, iteration: int) -> RunOutcome | None:
        ctx = self.ctx
        node = nodes.iteration(self.node, iteration)
        try:
            reply = await self._ask(node, iteration)
        except ContextWindowError as exc:
            # The server refused the prompt and named its window (one nobody could tell us before):
            # fit the prompt to it now; the next iteration asks again.
            await self._refit(exc)
            return None
        text = reply.text
        self.messages.append(Message("assistant", text if text.strip() else "(empty reply)"))
        blocks = code_blocks(text)
        written_final = text_final(text)
        if not blocks:
            return await self._reply_without_code(reply, written_final, iteration)

        settings = ctx.settings
        ran = blocks[: settings.max_cells_per_reply]
        budget = ReplyOutput(
            output_chars_for(self.limits.context_window, settings.sandbox.model_output_chars),
            reply_output_chars_for(self.limits.context_window, settings.reply_output_chars),
            len(ran),
        )
        outputs: list[tuple[int, str, str]] = []
        skipped = 0
        first_error: str | None = None
        for index, code in enumerate(ran, 1):
            share = budget.share()
            result, shown = await self._run_cell(node, iteration, index, code, share)
            budget.spend(share, len(result.output))
            outputs.append((index, result.status, shown))
            self._ran.setdefault(iteration, []).append(_cell_line(iteration, index, code, result))
            if result.final is not None:
                return RunOutcome(result.final)
            if ctx.cancelled:
                raise TurnCancelled()
            if result.status != "ok":
                first_error = result.error or result.status
                skipped = len(ran) - index
                break
        notes = [prompts.CUT_WITH_CODE] if reply.was_cut else []
        if len(blocks) > len(ran):
            notes.append(prompts.blocks_not_run(len(blocks), len(ran)))
            ctx.event(
                Notice,
                node,
                self.node,
                kind="limit",
                message=f"a reply had {len(blocks):,} code blocks; only the first {len(ran)} ran",
            )
        if budget.shortened:
            notes.append(prompts.reply_output_shortened(budget.total, budget.printed, budget.shortened))
        try:
            ctx.check()
        except LimitReached:
            # The best-answer request must still show the output of the cells that crossed the limit.
            self._unseen_outputs = outputs
            raise
        repeated = self.coach.observe(text, first_error)
        if repeated:
            notes.append(repeated)
        self._tell(
            prompts.cell_feedback(
                outputs,
                skipped=skipped,
                ignored_text_final=written_final is not None,
                iteration=iteration,
                max_iterations=ctx.settings.limits.max_iterations,
                stop_note="\n\n".join(notes) or None,
            )
        )
        return None

    async def _reply_without_code(
        self, reply: Completion, written_final: TextFinal | None, iteration: int
    ) -> RunOutcome | None:
        text = reply.text
        if written_final is not None:
            try:
                answer = await self._resolve_text_final(written_final)
            except SandboxError as exc:  # the REPL failed: say so, not "no such variable"
                self._tell(prompts.REPL_FAILED.format(error=exc))
                return None
            if answer is not None:
                return RunOutcome(answer)
            name = written_final.variable_name() or written_final.argument
            self._tell(prompts.FINAL_VAR_MISSING.format(name=name), text)
            return None
        if not text.strip():
            self._tell(prompts.EMPTY_REPLY, text)
            return None
        if reply.was_cut:  # cut at the output limit: have the model go on, and join the parts
            self._cut_parts.append(text)
            if len(self._cut_parts) <= MAX_CONTINUATIONS:
                self._tell(prompts.CONTINUE)
                return None
            answer = "".join(self._cut_parts)
            return RunOutcome(f"{answer}\n\n{prompts.CUT_NOTE}", stopped_by="output_limit")
        note = self.coach.unrun_note(unrun_code(text))
        if note is not None:
            self._tell(note, text)
            return None
        answer, self._cut_parts = "".join(self._cut_parts) + text, []
        return RunOutcome(answer.strip())

    def _tell(self, message: str, repeated_reply: str | None = None) -> None:
        """Feedback that is not cell output; a reply that keeps coming back is noted, then stopped."""
        if repeated_reply is not None:
            note = self.coach.observe(repeated_reply, None)
            if note:
                message = f"{message}\n\n{note}"
        self.messages.append(Message("user", message))

    # -- a model call, fitted to its window ----------------------------------------------------

    async def _ask(
        self, node: str, iteration: int, *, purpose: str = "root", timeout: float | None = None
    ) -> Completion:
        ctx = self.ctx
        system = prompts.SYSTEM_PROMPT
        limits = await ctx.client.limits(self.model)
        if limits.context_window or not self.limits.context_window:  # keep a window learnt from a refusal
            self.limits = limits
        max_tokens = output_budget(ctx.settings.max_output_tokens, self.limits)
        if self.limits.context_window:
            max_tokens = await self._fit(system, max_tokens)
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
            max_tokens=max_tokens,
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
            stop_reason=completion.stop_reason,
        )
        ctx.charge(self.model, completion.usage.cost_usd, node, self.node)
        return completion

    async def _refit(self, refused: ContextWindowError) -> None:
        """After a refusal for size: compact to the window the server named, or, when nothing can
        be compacted, fail naming both sizes and the setting to change."""
        if not refused.window or self.limits.context_window == refused.window:
            raise refused  # nothing new was learnt: fitting again would give the same prompt
        self.limits = dataclasses.replace(
            self.limits, context_window=refused.window, source="learned from the server's error"
        )
        reply = output_budget(self.ctx.settings.max_output_tokens, self.limits)
        before = len(self.messages)
        await self._fit(prompts.SYSTEM_PROMPT, reply, at_least=refused.prompt_tokens or 0)
        if len(self.messages) == before:  # no older iterations to drop: it can never fit
            raise does_not_fit(self.model, refused.prompt_tokens or 0, self.limits, reply)

    async def _fit(self, system: str, max_tokens: int, at_least: int = 0) -> int:
        """The max_tokens of a call that fits the window: compact older iterations when the prompt
        nears it; then shorten the newest iteration (not yet sent) if it alone is too long; a
        shorter reply when that is all there is room for; ``ContextWindowError`` when even the
        rules and the task do not fit."""
        window = self.limits.context_window or 0
        count = await self.ctx.client.count_tokens(self.model, system, self.messages)
        tokens = max(count.tokens, at_least)  # a server's own count, when it refused the prompt
        if tokens + max_tokens <= window * COMPACT_AT:
            return max_tokens
        plan = plan_compaction(self.messages, tokens, int(window * COMPACT_TO) - max_tokens)
        if plan is not None:
            before = tokens
            summary, iterations = await self._compact(plan.pairs)
            count = await self.ctx.client.count_tokens(self.model, system, self.messages)
            self._compactions += 1
            self.ctx.event(
                Compacted,
                nodes.compaction(self.node, self._compactions),
                self.node,
                removed=plan.removed,
                summary=summary,
                iterations=iterations,
                tokens_before=before,
                tokens_after=count.tokens,
                window=window,
            )
            tokens = count.tokens
        if tokens + max_tokens > window:
            tokens = await self._shorten_newest(system, tokens, window - min(max_tokens, 2 * MIN_OUTPUT))
        if tokens + max_tokens <= window:
            return max_tokens
        if window - tokens >= MIN_OUTPUT:
            return window - tokens
        raise does_not_fit(self.model, tokens, self.limits, max_tokens)

    async def _shorten_newest(self, system: str, tokens: int, target: int) -> int:
        """The newest iteration, not sent yet, made to fit: its reply replaced by a note (its code
        ran; the output follows), then the output cut to head and tail. Returns the new count."""
        if len(self.messages) < 3 or self._sent > len(self.messages) - 2:
            return tokens
        reply, feedback = self.messages[-2], self.messages[-1]
        if reply.role == "assistant" and len(reply.content) > len(prompts.REPLY_LEFT_OUT):
            self.messages[-2] = Message("assistant", prompts.REPLY_LEFT_OUT.format(chars=len(reply.content)))
            tokens = (await self.ctx.client.count_tokens(self.model, system, self.messages)).tokens
        if tokens > target and feedback.role == "user":
            over = tokens - target
            keep = max(200, len(feedback.content) - over * CHARS_PER_TOKEN - 200)
            shortened, _ = truncate_for_model(feedback.content, keep)
            self.messages[-1] = Message("user", shortened)
            tokens = (await self.ctx.client.count_tokens(self.model, system, self.messages)).tokens
        return tokens

    async def _compact(self, pairs: int) -> tuple[str, tuple[int, ...]]:
        """Replace the oldest ``pairs`` iterations (reply + feedback) by a record of what they ran
        and which variables the REPL holds now, appended to the first message."""
        iterations = list(range(self._first_pair, self._first_pair + pairs))
        try:
            table = utf8_safe((await self.repl.var_table())[0])  # previews of model-made values
        except SandboxError as exc:
            table = f"(the variable table could not be built: {exc}; SHOW_VARS() may tell more)"
        ran = [line for i in iterations for line in self._ran.pop(i, [])]
        summary = prompts.compaction_summary(iterations, ran, table)
        first = self.messages[0]
        self.messages = [Message(first.role, first.content + summary), *self.messages[1 + 2 * pairs :]]
        self._sent -= 2 * pairs  # only messages already sent are ever removed
        self._first_pair += pairs
        return summary, tuple(iterations)

    # -- a cell --------------------------------------------------------------------------------

    async def _run_cell(
        self, iteration_node: str, iteration: int, index: int, code: str, shown_chars: int
    ) -> tuple[CellResult, str]:
        """Run one cell; returns its result and the output the model sees (``shown_chars`` of it)."""
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
                CellOutput, node, iteration_node, stream=stream, text=utf8_safe(text)
            ),
            on_call=self.subcalls.handler(node, self.depth),
            label=f"{iteration}.{index}",
            new_turn=self._first_cell,
        )
        self._first_cell = False
        result = _clean(result)
        shown, truncated = result.for_model(shown_chars)
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
        return result, shown

    async def _resolve_text_final(self, final: TextFinal) -> str | None:
        """The answer a FINAL/FINAL_VAR line names, or None if it names a missing variable.
        ``SandboxError`` when the REPL could not be asked."""
        answer = await self._resolve(final)
        return None if answer is None else utf8_safe(answer)  # '\ud800' in a literal is a surrogate

    async def _resolve(self, final: TextFinal) -> str | None:
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
            if reply.was_cut:
                text = f"{text}\n\n{prompts.CUT_NOTE}"
            written = text_final(text)
            if written is not None:
                text = await self._resolve_text_final(written) or text
        except (ProviderError, LimitReached, TimeoutError, SandboxError) as exc:
            text = f"No answer was reached before the limit, and asking for a best answer failed ({exc})."
        return RunOutcome(f"{text}\n\n{note}" if text else note, stopped_by=limit.limit)


def _clean(result: CellResult) -> CellResult:
    """A cell's result with its text made safe to store (``events.text``): model code can print,
    raise and return lone surrogates."""

    def safe(text: str | None) -> str | None:
        return None if text is None else utf8_safe(text)

    return dataclasses.replace(
        result,
        chunks=[(stream, utf8_safe(text)) for stream, text in result.chunks],
        error=safe(result.error),
        final=safe(result.final),
        restart_note=safe(result.restart_note),
    )


def _cell_line(iteration: int, index: int, code: str, result: CellResult) -> str:
    """One line of a compaction record: what a cell ran and what came of it."""
    first_code = next((line.strip() for line in code.splitlines() if line.strip()), "")
    output = result.error or result.output
    first_out = next((line.strip() for line in output.splitlines() if line.strip()), "(no output)")
    return f"reply {iteration}, cell {index} ({result.status}): `{first_code[:80]}` → {first_out[:100]}"
