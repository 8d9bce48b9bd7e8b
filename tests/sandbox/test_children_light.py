"""Lighter children (issue 14): a child RLM's worker is started by its parent's worker, inside the
parent's sandbox, so it costs one process and about one Python start-up."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time

import pytest

from rlm_tui.engine.session import Session
from rlm_tui.engine.settings import EngineSettings, Limits
from rlm_tui.errors import WorkerStartError
from rlm_tui.llm.scripted import ScriptedClient
from rlm_tui.sandbox import cgroups
from rlm_tui.sandbox.children import TASKS_PER_CHILD
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.process import PROCESS_CAPS, TREE_CAPS
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.worker.guardian import descendants
from tests.engine.conftest import repl
from tests.sandbox.test_attacks_resources import FORK_BOMB

HAS_BWRAP = shutil.which("bwrap") is not None
MODES = [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed")),
    "process",
]
FAN_OUT = 16

# Each child waits (with a deadline) until all its siblings' folders exist, so all are in flight at
# once; the first to see them all lets the rest go (a file beside their folders).
BARRIER = f"""
import os, time
deadline = time.monotonic() + 30
while not os.path.exists('../go') and time.monotonic() < deadline:
    if len(os.listdir('..')) >= {FAN_OUT}:
        open('../go', 'w').close()
        FINAL('all together')
        break
    time.sleep(0.02)
else:
    FINAL('released')
"""


async def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


def settings(mode: str) -> SandboxSettings:
    return SandboxSettings(isolation=mode, interrupt_grace=1.0)


@pytest.mark.parametrize("mode", MODES)
async def test_sixteen_children_in_flight_stay_under_25_processes(tmp_path, mode):
    def responder(request):
        if request.depth == 0:
            if len(request.messages) == 1:
                return repl(f"res = rlm_query_batched([f'task {{i}}' for i in range({FAN_OUT})])\nprint(res)")
            return "FINAL('done')"
        return repl(BARRIER)

    engine = EngineSettings(
        root_model="scripted/root",
        sub_model="scripted/sub",
        limits=Limits(max_depth=2, max_concurrency=FAN_OUT),
        sandbox=settings(mode),
    )
    session = Session(
        engine, ScriptedClient(responder), lambda e: None, repl_factory=Worker, workdir=tmp_path / "s0"
    )
    before = set(descendants(os.getpid()))  # left running by earlier tests: not this session's
    await session.start()
    peak = 0
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, len(set(descendants(os.getpid())) - before))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        await session.run_turn("go")
        table = await session.repl.render_value("res")
    finally:
        stop.set()
        await watcher
        await session.close()
    assert table is not None and "all together" in table, table  # 16 children were running at once
    assert table.count("all together") + table.count("released") == FAN_OUT
    assert FAN_OUT < peak < 25, f"{peak} processes with {FAN_OUT} children in flight"
    assert not (tmp_path / "s0.children").exists()  # no child needed a sandbox of its own


@pytest.mark.parametrize("mode", MODES)
async def test_a_child_starts_quickly_works_in_its_own_folder_and_is_cleaned_up(tmp_path, mode):
    async with Worker(tmp_path / "s0", settings(mode)) as parent:
        times = []
        for i in range(5):
            child = parent.child(f"t1_i1_c1_s{i}")
            started = time.perf_counter()
            await child.start()
            times.append(time.perf_counter() - started)
            result = await child.run_cell("import os\nprint(os.path.basename(os.getcwd()))")
            assert result.output == f"t1_i1_c1_s{i}\n"
            await child.close()
        assert statistics.median(times) < 0.5, times  # ~50 ms measured (bench/children.py)
        leftover = await parent.run_cell("import os\nprint(os.path.exists('.children'))")
        assert leftover.output == "False\n"


@pytest.mark.parametrize("mode", MODES)
async def test_a_crashed_child_is_restarted_with_its_variables(tmp_path, mode):
    async with Worker(tmp_path / "s0", settings(mode)) as parent:
        child = parent.child("t1_i1_c1_s1")
        await child.start()
        try:
            assert (await child.run_cell("kept = 41")).status == "ok"
            crashed = await child.run_cell("import os\nos._exit(3)")
            assert crashed.status == "crashed"
            assert "exited with code 3" in crashed.restart_note
            again = await child.run_cell("print(kept + 1)")
            assert again.output == "42\n"
        finally:
            await child.close()


@pytest.mark.parametrize("mode", MODES)
async def test_killing_the_parent_ends_its_children(tmp_path, mode):
    before = set(descendants(os.getpid()))  # what earlier tests left running is not ours to judge
    parent = Worker(tmp_path / "s0", settings(mode))
    await parent.start()
    children = [parent.child(f"t1_i1_c1_s{i}") for i in range(3)]

    def ours() -> set[int]:
        return set(descendants(os.getpid())) - before

    try:
        for child in children:
            await child.start()
        assert len(ours()) >= 4
        await parent._kill()
        assert await wait_for(lambda: all(c._dead for c in children)), "a child's channel stayed open"
        assert await wait_for(lambda: not ours()), ours()
        late = parent.child("t1_i1_c1_s9")
        with pytest.raises(WorkerStartError, match="parent REPL"):
            await late.start()  # the engine then gives the child a sandbox of its own
    finally:
        for child in children:
            await child.close()
        await parent.close()


CHILD_FORKS = FORK_BOMB  # the same bounded bomb, run in a child


@pytest.mark.parametrize("mode", MODES)
async def test_a_childs_processes_count_against_its_parents_cap(tmp_path, mode):
    async with Worker(tmp_path / "s0", SandboxSettings(isolation=mode, max_processes=32)) as parent:
        child = parent.child("t1_i1_c1_s1")
        await child.start()
        try:
            r = await child.run_cell(CHILD_FORKS, timeout=30)
            forked = int(r.output.split("forked")[-1])
        finally:
            await child.close()
        if parent.isolation.note.endswith(TREE_CAPS):
            # the parent's own cap, plus the room made for one child and the spare
            assert forked <= 32 + cgroups.PROC_OVERHEAD + 2 * TASKS_PER_CHILD, r.output
        else:
            assert PROCESS_CAPS in parent.isolation.note


async def test_a_child_the_parent_cannot_start_gets_a_sandbox_of_its_own(tmp_path):
    def responder(request):
        if request.depth == 0:
            if len(request.messages) == 1:  # a file where the children's folder would go
                return repl("open('.children', 'w').close()\nprint(rlm_query('hello'))")
            return "FINAL('done')"
        return repl("import os\nFINAL(os.path.basename(os.path.dirname(os.getcwd())))")

    engine = EngineSettings(
        root_model="scripted/root",
        sub_model="scripted/sub",
        limits=Limits(max_depth=2),
        sandbox=SandboxSettings(isolation="process", interrupt_grace=1.0),
    )
    events = []
    session = Session(
        engine, ScriptedClient(responder), events.append, repl_factory=Worker, workdir=tmp_path / "s0"
    )
    await session.start()
    try:
        await session.run_turn("go")
    finally:
        await session.close()
    outputs = "".join(e.text for e in events if type(e).__name__ == "CellOutput")
    assert "s0.children" in outputs, outputs  # the host-made sibling folder: a sandbox of its own
