"""Time from starting `rlm` in a pseudo-terminal to its first frame (the editor on screen), and
the app's memory once it has settled (idle, the provider SDK and the REPL worker loaded).

Targets: <= 0.5 s to the first frame; <= 120 MB resident when idle (the app's own process; the
REPL worker is a process of its own). The store, the worker and the SDKs load after the first frame.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect
import pyte

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _app_env import app_rlm
from _report import report

RLM = app_rlm()  # the `rlm` of `make run`: installed from the app lock alone
RUNS = 7


def first_frame(home: str, idle: float = 0.0, extra: dict[str, str] | None = None) -> tuple[float, float]:
    """Seconds to the first frame; with ``idle``, the app's resident MB after that many seconds."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "RLM_HOME": home,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": "bench",
        **(extra or {}),
    }
    screen = pyte.Screen(120, 40)
    stream = pyte.ByteStream(screen)
    started = time.perf_counter()
    child = pexpect.spawn(RLM, env=env, dimensions=(40, 120))
    try:
        while True:
            try:
                stream.feed(child.read_nonblocking(65536, timeout=5))
            except pexpect.TIMEOUT as exc:
                raise RuntimeError("no first frame in 5 s") from exc
            if any("Ask anything" in line for line in screen.display):
                frame = time.perf_counter() - started
                break
        settle = time.perf_counter() + idle
        while time.perf_counter() < settle:  # keep the terminal drained while the app settles
            try:
                stream.feed(child.read_nonblocking(65536, timeout=0.2))
            except pexpect.TIMEOUT:
                pass
        return frame, resident_mb(child.pid) if idle else 0.0
    finally:
        child.sendcontrol("q")
        child.expect(pexpect.EOF, timeout=20)
        child.close()


def resident_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        first_frame(home)  # a cold first start compiles .pyc files: not what a user sees twice
        times = [first_frame(home)[0] for _ in range(RUNS)]
        idle_anthropic = first_frame(home, idle=5.0)[1]
        local = {"RLM_MODEL": "openai/local", "RLM_API_BASE": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "x"}
        idle_openai = first_frame(home, idle=5.0, extra=local)[1]
    median = statistics.median(times)
    report(
        "tui_startup",
        [
            {
                "measure": f"start to first frame (median of {RUNS})",
                "value": median,
                "unit": "s",
                "target": "<= 0.5 s",
                "ok": median <= 0.5,
            },
            {"measure": "start to first frame (slowest)", "value": max(times), "unit": "s"},
            {
                "measure": "idle memory, Anthropic model (after 5 s)",
                "value": idle_anthropic,
                "unit": "MB",
                "target": "<= 120 MB",
                "ok": idle_anthropic <= 120,
            },
            {
                "measure": "idle memory, OpenAI-compatible endpoint (after 5 s)",
                "value": idle_openai,
                "unit": "MB",
                "target": "<= 120 MB",
                "ok": idle_openai <= 120,
            },
        ],
    )


if __name__ == "__main__":
    main()
