"""Child RLMs' cost (issue 14): how long a child's REPL takes to start, and how many processes and
how much memory 16 children in flight take, with children started by their parent's worker
("light", the default) and with a sandbox of their own each ("separate", ``light_children=False``).

    python bench/children.py [--isolation auto|bubblewrap|process] [--starts 15]

Targets: a light child starts in under 50 ms (median) and 16 in flight stay under 25 processes.
A light child is handed a spare worker its parent started after its previous child (imports
done), so the first child of a worker starts cold and the rest warm; starts are spaced by 0.2 s,
less than any child RLM's life (a model call at least).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import report, summary
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.worker.guardian import descendants

FAN_OUT = 16


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total / (1 << 20)


async def start_times(parent: Worker, folder: Path, light: bool, n: int) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        child = parent.child(f"bench{i}") if light else Worker(folder / f"sep{i}", parent.settings)
        await child.start()
        times.append(time.perf_counter() - started)
        await child.close()
        await asyncio.sleep(0.2)  # a child RLM lives at least a model call: the spare is warm by then
    return times


async def in_flight(parent: Worker, folder: Path, light: bool) -> tuple[int, float]:
    """Processes below this one and their memory with FAN_OUT children started at once."""

    async def one(i: int) -> Worker:
        child = parent.child(f"fan{i}") if light else Worker(folder / f"fan{i}", parent.settings)
        await child.start()
        return child

    children = await asyncio.gather(*(one(i) for i in range(FAN_OUT)))
    try:
        pids = descendants(os.getpid())
        return len(pids), rss_mb(pids)
    finally:
        await asyncio.gather(*(c.close() for c in children))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--isolation", default="auto")
    parser.add_argument("--starts", type=int, default=15)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for light in (True, False):
            label = "light" if light else "separate"
            settings = SandboxSettings(isolation=args.isolation, light_children=light)
            async with Worker(Path(tmp) / label, settings) as parent:
                level = parent.isolation.level if parent.isolation else "?"
                times = await start_times(parent, Path(tmp), light, args.starts)
                procs, mem = await in_flight(parent, Path(tmp), light)
            s = summary([t * 1000 for t in times[1:]])
            rows.append(
                {"measure": f"{label} first child start (cold)", "value": times[0] * 1000, "unit": "ms"}
            )
            rows.append(
                {
                    "measure": f"{label} child start, median of the rest ({level})",
                    "value": s["median"],
                    "unit": "ms",
                    "target": "< 50 ms" if light else "",
                    **({"ok": s["median"] < 50} if light else {}),
                }
            )
            rows.append({"measure": f"{label} child start, p90", "value": s["p90"], "unit": "ms"})
            rows.append(
                {
                    "measure": f"{label}: processes with {FAN_OUT} children in flight",
                    "value": procs,
                    "unit": "",
                    "target": "< 25" if light else "",
                    **({"ok": procs < 25} if light else {}),
                }
            )
            rows.append(
                {"measure": f"{label}: their resident memory (sum of RSS)", "value": mem, "unit": "MB"}
            )
    report("children", rows)


if __name__ == "__main__":
    asyncio.run(main())
