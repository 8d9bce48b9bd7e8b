"""Engine overhead, measured with a zero-latency scripted model and real workers.

- the scaffold's own time for a 2-iteration turn with one sub-call (worker already started)
- worker start time
- 200 llm_query_batched sub-calls of 100 ms each at concurrency 32, against the ideal 0.7 s
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report, summary

from rlm_tui.engine.session import Session
from rlm_tui.engine.settings import EngineSettings, Limits
from rlm_tui.llm.scripted import Reply, ScriptedClient
from rlm_tui.sandbox.host import Worker

TURNS = 60
STARTS = 20


def two_iteration_responder(request):
    if request.purpose == "sub":
        return "apple\nbanana\ncherry"
    if len(request.messages) == 1:
        return "```repl\nnames = llm_query('list three fruits').split()\nprint(len(names))\n```"
    return "```repl\nFINAL_VAR('names')\n```"


async def scaffold_time(tmp: Path) -> list[float]:
    client = ScriptedClient(two_iteration_responder)
    session = Session(
        EngineSettings("scripted/root", "scripted/sub"), client, repl_factory=Worker, workdir=tmp / "turns"
    )
    await session.start()
    times = []
    try:
        for i in range(TURNS):
            started = time.perf_counter()
            result = await session.run_turn(f"turn {i}: list fruits")
            times.append(time.perf_counter() - started)
            assert result.status == "ok", result
            session.shared.cache.clear()  # every turn makes its sub-call for real
    finally:
        await session.close()
    return times[5:]  # the first turns warm up imports (cloudpickle, asyncio in the worker)


async def worker_starts(tmp: Path) -> list[float]:
    times = []
    for i in range(STARTS):
        worker = Worker(tmp / f"w{i}")
        started = time.perf_counter()
        await worker.start()
        times.append(time.perf_counter() - started)
        await worker.close()
    return times


async def batched(tmp: Path, n: int = 200, latency: float = 0.1, concurrency: int = 32) -> float:
    def respond(request):
        if request.purpose == "sub":
            return Reply("ok", delay=latency)
        if len(request.messages) == 1:
            return (
                f"```repl\nout = llm_query_batched([f'item {{i}}' for i in range({n})])\nprint(len(out))\n```"
            )
        return "FINAL(done)"

    client = ScriptedClient(respond)
    settings = EngineSettings("scripted/root", "scripted/sub", limits=Limits(max_concurrency=concurrency))
    events = []
    session = Session(settings, client, events.append, repl_factory=Worker, workdir=tmp / "batch")
    await session.start()
    try:
        await session.run_turn("batch")
    finally:
        await session.close()
    cell = next(e for e in events if e.event_type == "CellFinished")
    return cell.duration


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        turn = summary(await scaffold_time(tmp))
        start = summary(await worker_starts(tmp))
        batch = await batched(tmp)
    ideal = 0.7
    report(
        "engine_overhead",
        [
            {
                "measure": "2-iteration turn, 1 sub-call: median",
                "value": turn["median"] * 1000,
                "unit": "ms",
                "target": "<= 50 ms",
                "ok": turn["median"] <= 0.05,
            },
            {"measure": "2-iteration turn, 1 sub-call: p90", "value": turn["p90"] * 1000, "unit": "ms"},
            {
                "measure": "worker start: median",
                "value": start["median"] * 1000,
                "unit": "ms",
                "target": "<= 300 ms",
                "ok": start["median"] <= 0.3,
            },
            {"measure": "worker start: p90", "value": start["p90"] * 1000, "unit": "ms"},
            {
                "measure": "200 batched sub-calls x 100 ms @32",
                "value": batch,
                "unit": "s",
                "target": f"<= {1.2 * ideal:.2f} s (1.2 x ideal {ideal} s)",
                "ok": batch <= 1.2 * ideal,
            },
            {"measure": "  ratio to ideal", "value": batch / ideal, "unit": "x"},
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
