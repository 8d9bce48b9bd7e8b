"""The `rlm` a user runs: installed from requirements/app.lock alone, as `make run` does.

The test environment holds more (numpy, which the real-model tier's llama.cpp needs, and which
sqlite-utils then imports in every `rlm` process: +15 MB and ~50 ms), so the app's own figures
(start, memory, whole-process `rlm ask`) are measured here. Made once in bench/results/app-venv,
remade when the lock changes; RLM_BENCH_APP points at another `rlm` instead.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / "results" / "app-venv"
LOCK = ROOT / "requirements" / "app.lock"


def app_rlm() -> str:
    given = os.environ.get("RLM_BENCH_APP")
    if given:
        return given
    rlm = VENV / "bin" / "rlm"
    stamp = VENV / ".lock-digest"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if rlm.exists() and stamp.exists() and stamp.read_text() == digest:
        return str(rlm)
    print(f"installing the app's locked dependencies into {VENV} (once) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "-r", str(LOCK)], check=True)
    subprocess.run(
        [*pip, "--no-deps", "-e", str(ROOT)], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    stamp.write_text(digest)
    return str(rlm)
