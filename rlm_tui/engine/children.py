"""An ``rlm_query``: a child RLM with its own REPL, whose answer returns to the calling cell.

Where the parent's REPL can (``REPL.child``), the child's REPL is started by the parent's worker
inside the parent's sandbox: one process, no new sandbox, its folder made by the parent's worker
in its own folder (the host follows no path for it). Otherwise, or if that fails, it gets a
sandbox of its own:

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
import weakref
from pathlib import Path

from rlm_tui.engine import prompts
from rlm_tui.engine.context import TurnContext
from rlm_tui.engine.repl import REPL
from rlm_tui.engine.rlm import RLMRun
from rlm_tui.engine.subcalls import ChildOutcome
from rlm_tui.errors import SandboxError, WorkerStartError
from rlm_tui.events import nodes

# each turn's child REPLs by their node: a child's own children are started by its worker
_by_node: weakref.WeakKeyDictionary[TurnContext, dict[str, REPL]] = weakref.WeakKeyDictionary()


def parent_repl(ctx: TurnContext, node: str) -> REPL | None:
    """The REPL of the RLM whose cell made the sub-call ``node``: a child's, or the root's."""
    children = _by_node.get(ctx, {})
    owner = children.get(node.rsplit(".", 3)[0])  # t3.i2.c1.s4 -> t3; ...s4.i1.c1.s2 -> ...s4
    if owner is not None:
        return owner
    known = set(map(id, children.values()))
    return next((r for r in ctx.repls if id(r) not in known), None)


async def start_repl(ctx: TurnContext, node: str) -> tuple[REPL, Path | None]:
    """A started REPL for the child ``node`` and the folder the host made for it (None when its
    parent's worker started it, in a folder of its own): in its parent's sandbox where the REPL
    can do that (one process, no new sandbox), else a sandbox of its own."""
    parent = parent_repl(ctx, node)
    spawn = getattr(parent, "child", None)
    light = spawn(nodes.folder_name(node)) if spawn is not None else None
    if light is not None:
        try:
            await light.start()
            return light, None
        except SandboxError:  # the parent is gone or could not start it: a sandbox of its own
            with contextlib.suppress(Exception):
                await light.close()
    workdir = make_child_folder(ctx.workdir, nodes.folder_name(node))
    repl = ctx.repl_factory(workdir, ctx.settings.sandbox)
    try:
        await repl.start()
    except BaseException:
        await _close(repl, workdir)
        raise
    return repl, workdir


async def _close(repl: REPL, workdir: Path | None) -> None:
    await repl.close()
    if workdir is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)  # never follows a link the child planted inside
        with contextlib.suppress(OSError):
            workdir.parent.rmdir()  # the last child gone: the sibling folder goes too


async def run_child(
    ctx: TurnContext, node: str, depth: int, model: str, prompt: str, context_blob: bytes | None
) -> ChildOutcome:
    repl, workdir = await start_repl(ctx, node)
    ctx.repls.add(repl)
    children = _by_node.setdefault(ctx, {})
    children[node] = repl
    try:
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
        children.pop(node, None)
        await _close(repl, workdir)


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
