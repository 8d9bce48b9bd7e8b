"""Regressions found in review: each test failed before its fix."""

from __future__ import annotations

import asyncio
import os
import socket

from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings


async def test_a_rebound_value_at_a_reused_address_is_snapshotted(worker):
    await worker.run_cell("v = 10**20")
    # Each `v + 1` frees the previous int; CPython often hands the same address to the next one.
    for k in range(1, 7):
        await worker.run_cell(f"for _ in range({k}):\n    v = v + 1")
        restored = Worker(worker.workdir / f"r{k}")
        async with restored:
            await restored.restore(worker.snapshot)
            out = await restored.run_cell("print(v)")
        expected = 10**20 + k * (k + 1) // 2
        assert out.output == f"{expected}\n"


async def test_large_memory_changed_in_place_is_saved_at_the_end_of_a_turn(worker, tmp_path):
    await worker.run_cell("memory['chunks'] = [f'chunk {i} ' * 20 for i in range(40_000)]")
    await worker.run_cell("memory['answer_to_q2'] = 'Paris'")
    snap = await worker.take_snapshot(thorough=True)
    async with Worker(tmp_path / "other") as other:
        await other.restore(snap)
        out = await other.run_cell("print(sorted(memory), memory['answer_to_q2'])")
    assert out.output == "['answer_to_q2', 'chunks'] Paris\n"


async def test_context_survives_a_restart_as_the_latest_input(worker, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("FILE CONTENT")
    await worker.load_file("notes.txt", notes)
    await worker.set_vars(context="LONG USER MESSAGE")
    crashed = await worker.run_cell("import os\nos._exit(1)")
    assert crashed.status == "crashed"
    out = await worker.run_cell("print(context, '|', files['notes.txt'])")
    assert out.output == "LONG USER MESSAGE | FILE CONTENT\n"
    await worker.use_file_as_context("notes.txt")
    await worker.run_cell("import os\nos._exit(1)")
    assert (await worker.run_cell("print(context)")).output == "FILE CONTENT\n"


async def test_a_worker_that_dies_between_cells_is_restarted_and_says_so(worker):
    await worker.run_cell("kept = 41")
    os.kill(worker.pid if worker.isolation.level == "process" else worker._proc.pid, 9)
    await asyncio.wait_for(worker._transport.finished(), 10)
    table, _ = await worker.var_table()  # a control request restarts it first
    assert "kept" in table
    assert worker.unreported_restarts and "restarted" in worker.unreported_restarts[0]
    result = await worker.run_cell("print(kept + 1)")
    assert result.output == "42\n" and result.restart_note and "killed by SIGKILL" in result.restart_note


async def test_a_hanging_repr_cannot_block_the_variable_table(tmp_path):
    settings = SandboxSettings(control_timeout=1.0, interrupt_grace=0.5, snapshot_seconds=0.5)
    async with Worker(tmp_path, settings) as w:
        await w.run_cell(
            "class Slow:\n    def __repr__(self):\n        import time\n        time.sleep(60)\nslow = [Slow()]\nok = 1"
        )
        table, _ = await asyncio.wait_for(w.var_table(), 5)
        assert "<Slow object>" in table  # previews never call a cell-defined __repr__
        stuck = await asyncio.wait_for(
            w.run_cell(
                "import time\nclass Stuck:\n    def __reduce__(self):\n        time.sleep(60)\nstuck = Stuck()"
            ),
            10,
        )
        assert stuck.status == "ok"
        assert w.snapshot.skipped["stuck"] == "not saved: pickling it took too long"
        assert (await asyncio.wait_for(w.run_cell("print(ok)"), 5)).output == "1\n"


async def test_interrupting_a_cell_that_floods_output_always_stops_it(worker):
    code = "while True:\n    print('x' * 3_000_000)"
    for _ in range(5):
        started = asyncio.Event()
        task = asyncio.create_task(
            worker.run_cell(code, on_output=lambda s, t, e=started: e.set(), timeout=30)
        )
        await asyncio.wait_for(started.wait(), 10)
        await worker.interrupt()
        result = await asyncio.wait_for(task, 10)
        assert result.status == "interrupted", result.restart_note
    assert worker.restarts == 0


async def test_closing_during_a_cell_leaves_no_worker_behind(tmp_path):
    w = Worker(tmp_path)
    await w.start()
    proc = w._proc
    task = asyncio.create_task(w.run_cell("import time\ntime.sleep(60)"))
    await asyncio.sleep(0)  # let the cell be sent
    await w.close()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10)
    assert proc.returncode is not None
    assert w._proc is proc  # no new worker was started


async def test_isolation_is_what_the_app_reports(worker):
    probe = (
        "import os, socket\nvisible = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "try:\n    open('/etc/rlm-probe', 'w')\n    wrote = 'yes'\nexcept OSError:\n    wrote = 'no'\n"
        "s = socket.socket()\ns.settimeout(2)\n"
        "try:\n    s.connect(('127.0.0.1', PORT))\n    net = 'yes'\nexcept OSError:\n    net = 'no'\n"
        "print(len(visible), wrote, net)"
    )
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        out = await worker.run_cell(probe.replace("PORT", str(port)))
    visible, wrote, net = out.output.split()
    if worker.isolation.level == "bubblewrap":
        assert int(visible) < 10 and wrote == "no" and net == "no"
        assert str(os.getpid()) not in out.output
    else:
        assert "process only" in worker.isolation.note or "turned off" in worker.isolation.note


async def test_process_isolation_can_be_chosen_and_is_reported(tmp_path):
    async with Worker(tmp_path, SandboxSettings(isolation="process")) as w:
        assert w.isolation.level == "process" and "turned off" in w.isolation.note
        assert (await w.run_cell("print(1)")).output == "1\n"
