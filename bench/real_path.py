"""rlm-tui beside the official rlm (PyPI `rlms` 0.1.3), through HTTP, against one loopback
OpenAI-compatible server in a process of its own (bench/_loopback.py), on this machine, in one run.

- a whole `rlm ask` process answering a 2-iteration turn with one sub-call, against a script that
  does the same with the official rlm's `RLM.completion`
- a warm turn in-process (the process already up)
- fan-out: 200 and 1,000 sub-calls that each take 100 ms, 16 at a time: the span against the
  ideal (ceil(n / 16) x 100 ms) and the client's CPU per sub-call

The official rlm is installed into bench/results/rlms-venv on first use (RLMS_PYTHON points at
another interpreter that has it); where it cannot be installed its column is left empty.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _app_env import app_rlm  # noqa: E402
from _report import RESULTS, report  # noqa: E402

RLMS_VERSION = "0.1.3"
RUNS = 5
CONCURRENCY = 16
RLM = app_rlm()  # the `rlm` of `make run`: installed from the app lock alone

RLMS_SCRIPT = """
import json, resource, sys, time
t0 = time.perf_counter()
from rlm import RLM
base, question, repeat, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rlm = RLM(backend="openai", backend_kwargs={"model_name": "bench", "base_url": base, "api_key": "x"},
          max_iterations=5, max_concurrent_subcalls=concurrency)
times, cpu = [], []
for _ in range(repeat):
    started, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    rlm.completion(question, root_prompt=question)
    after = resource.getrusage(resource.RUSAGE_SELF)
    times.append(time.perf_counter() - started)
    cpu.append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
print(json.dumps({"times": times, "cpu": cpu, "process": time.perf_counter() - t0}))
"""


class Loopback:
    def __init__(self, delay: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_loopback.py"), str(delay)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.base = self.process.stdout.readline().strip()  # type: ignore[union-attr]

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(10)


def rlms_python() -> str | None:
    given = os.environ.get("RLMS_PYTHON")
    if given:
        return given
    venv = RESULTS / "rlms-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        RESULTS.mkdir(exist_ok=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if made.returncode or subprocess.run([*pip, f"rlms=={RLMS_VERSION}"], capture_output=True).returncode:
            return None
    return str(python)


def run_rlms(python: str, base: str, question: str, repeat: int = 1) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(RLMS_SCRIPT)
    done = subprocess.run(
        [python, script.name, base, question, str(repeat), str(CONCURRENCY)], capture_output=True, text=True
    )
    os.unlink(script.name)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def ask_env(home: str, base: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": home, "RLM_HOME": home, "OPENAI_API_KEY": "x",
            "RLM_MODEL": "openai/bench", "RLM_API_BASE": base, "RLM_MAX_CONCURRENCY": str(CONCURRENCY),
            "RLM_MAX_SUB_CALLS": "5000"}  # fmt: skip


def whole_process(base: str, rlms: str | None) -> tuple[list[float], list[float]]:
    ours, theirs = [], []
    question = "Answer with 1 SUB-CALLS."
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as home:
            started = time.perf_counter()
            done = subprocess.run(
                [RLM, "ask", question], capture_output=True, text=True, env=ask_env(home, base)
            )
            ours.append(time.perf_counter() - started)
            assert done.returncode == 0, done.stderr
        if rlms:
            started = time.perf_counter()
            run_rlms(rlms, base, question)
            theirs.append(time.perf_counter() - started)
    return ours, theirs


async def our_turns(base: str, question: str, repeat: int) -> tuple[list[float], list[float]]:
    from rlm_tui.config import load
    from rlm_tui.engine.session import Session
    from rlm_tui.sandbox.host import Worker
    from rlm_tui.services.runtime import engine_settings, make_router

    with tempfile.TemporaryDirectory() as home:
        os.environ.update(ask_env(home, base))
        config = load()
        times, cpu = [], []
        router = make_router(config)
        async with Session(engine_settings(config), router, repl_factory=Worker, workdir=home) as s:
            await s.run_turn("warm-up: 1 SUB-CALLS")
            for _ in range(repeat):
                started, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
                result = await s.run_turn(question)
                after = resource.getrusage(resource.RUSAGE_SELF)
                assert result.status == "ok", (result.status, result.stopped_by, result.error)
                times.append(time.perf_counter() - started)
                cpu.append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
        await router.aclose()
        return times, cpu


def ratio(ours: float, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}x rlms ({theirs:.3f} s)" if theirs else "rlms not measured"


def main() -> None:
    rlms = rlms_python()
    rows: list[dict] = []
    instant = Loopback(0.0)
    try:
        ours, theirs = whole_process(instant.base, rlms)
        mine, their = statistics.median(ours), (statistics.median(theirs) if theirs else None)
        rows.append({"measure": "rlm ask, 2 iterations + 1 sub-call, whole process (median)", "value": mine,
                     "unit": f"s ({ratio(mine, their)})", "target": "<= 1.0x rlms",
                     **({"ok": mine <= their} if their else {})})  # fmt: skip
        warm, _ = asyncio.run(our_turns(instant.base, "Answer with 1 SUB-CALLS.", RUNS))
        their_warm = (
            run_rlms(rlms, instant.base, "Answer with 1 SUB-CALLS.", RUNS + 1)["times"][1:] if rlms else []
        )
        w = statistics.median(warm)
        rows.append({"measure": "warm turn in-process (median)", "value": w,
                     "unit": f"s ({ratio(w, statistics.median(their_warm) if their_warm else None)})"})  # fmt: skip
    finally:
        instant.close()
    slow = Loopback(0.1)
    try:
        for n in (200, 1000):
            ideal = math.ceil(n / CONCURRENCY) * 0.1
            times, cpu = asyncio.run(our_turns(slow.base, f"Answer with {n} SUB-CALLS.", 1))
            theirs = run_rlms(rlms, slow.base, f"Answer with {n} SUB-CALLS.") if rlms else None
            their_note = (
                f"; rlms {theirs['times'][0] / ideal:.2f}x, {1000 * theirs['cpu'][0] / n:.1f} ms CPU/call"
                if theirs
                else ""
            )
            rows.append({"measure": f"{n} sub-calls of 100 ms, {CONCURRENCY} at a time: span / ideal {ideal:.2f} s",
                         "value": times[0] / ideal, "unit": f"x{their_note}",
                         **({"target": "<= 1.15x", "ok": times[0] / ideal <= 1.15} if n == 1000 else {})})  # fmt: skip
            per_call = 1000 * cpu[0] / n
            rows.append({"measure": f"  client CPU per sub-call ({n})", "value": per_call, "unit": "ms",
                         "target": "<= 2 ms", "ok": per_call <= 2})  # fmt: skip
    finally:
        slow.close()
    report("real_path", rows)


if __name__ == "__main__":
    main()
