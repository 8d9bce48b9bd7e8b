"""An ``rlm_query``: a child RLM with its own REPL, whose answer returns to the calling cell.

A child's folder is never inside its parent's: a parent's cell could plant a link there (to
$RLM_HOME, say) and the child would get it as its writable folder. Children live in a sibling
``<parent folder>.children/`` that the host makes and no worker can write, each made with a
``mkdir`` that fails if anything (a link included) is already there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from rlm_tui.engine import prompts
from rlm_tui.engine.context import TurnContext
from rlm_tui.engine.rlm import RLMRun
from rlm_tui.engine.subcalls import ChildOutcome
from rlm_tui.errors import SandboxError, WorkerStartError
from rlm_tui.events import nodes


async def run_child(
    ctx: TurnContext, node: str, depth: int, model: str, prompt: str, context_blob: bytes | None
) -> ChildOutcome:
    workdir = make_child_folder(ctx.workdir, nodes.folder_name(node))
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
            shutil.rmtree(workdir)  # never follows a link the child planted inside
        with contextlib.suppress(OSError):
            workdir.parent.rmdir()  # the last child gone: the sibling folder goes too


def children_folder(parent: Path) -> Path:
    """Where a folder's children live: beside it, out of its worker's reach."""
    return parent.with_name(parent.name + ".children")


def make_child_folder(parent: Path, name: str) -> Path:
    """A new, empty folder for one child; ``WorkerStartError`` if anything is in the way."""
    home = children_folder(parent)
    with contextlib.suppress(FileExistsError):
        os.mkdir(home, 0o755)
    folder = home / name
    try:
        if not stat.S_ISDIR(os.lstat(home).st_mode):
            raise WorkerStartError(f"{home} is not a folder (a link?): the child REPL was not started")
        os.mkdir(folder, 0o700)  # fails on anything already there, a dangling link included
    except FileExistsError:
        raise WorkerStartError(f"{folder} already exists: the child REPL was not started") from None
    except OSError as exc:
        raise WorkerStartError(f"the child REPL's folder could not be made: {exc.strerror or exc}") from None
    return folder
