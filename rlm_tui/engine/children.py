"""An ``rlm_query``: a child RLM with its own REPL, whose answer returns to the calling cell."""

from __future__ import annotations

import contextlib
import shutil

from rlm_tui.engine import prompts
from rlm_tui.engine.context import TurnContext
from rlm_tui.engine.rlm import RLMRun
from rlm_tui.engine.subcalls import ChildOutcome
from rlm_tui.errors import SandboxError
from rlm_tui.events import nodes


async def run_child(
    ctx: TurnContext, node: str, depth: int, model: str, prompt: str, context_blob: bytes | None
) -> ChildOutcome:
    workdir = ctx.workdir / ".children" / nodes.folder_name(node)
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
        return ChildOutcome(outcome.answer, run.tally.total(), outcome.stopped_by)
    finally:
        ctx.repls.discard(repl)
        await repl.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
