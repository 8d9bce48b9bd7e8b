"""Time from starting `rlm` in a pseudo-terminal to its first frame (the editor on screen).

Target: <= 0.5 s. The store, the REPL worker and the provider SDKs load after the first frame.
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

from _report import report

RLM = str(Path(sys.executable).with_name("rlm"))
RUNS = 7


def first_frame(home: str) -> float:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "RLM_HOME": home,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": "bench",
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
                return time.perf_counter() - started
    finally:
        child.sendcontrol("q")
        child.expect(pexpect.EOF, timeout=20)
        child.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        first_frame(home)  # a cold first start compiles .pyc files: not what a user sees twice
        times = [first_frame(home) for _ in range(RUNS)]
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
        ],
    )


if __name__ == "__main__":
    main()
