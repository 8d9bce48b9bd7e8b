"""Starting a worker process, and how isolated it is.

Where bubblewrap works, the worker runs in its own PID, network, IPC and UTS namespaces with the
file system read-only outside its session folder and every capability dropped (as root it would
otherwise keep them all, and could remount that file system): no network, nothing of the host's
processes in view (so not their environments either). Where it does not, the worker is a plain
child process, the host makes its own /proc entries unreadable to other users, and the app says
so once. The process cap (RLIMIT_NPROC) is not enforced by the kernel for root.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rlm_tui.errors import WorkerStartError
from rlm_tui.sandbox.settings import SandboxSettings

BWRAP_ARGS = (
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
)
PR_SET_DUMPABLE = 4


@dataclass(frozen=True)
class Isolation:
    level: str  # bubblewrap | process
    note: str  # what it means, for the status bar and the one-time notice


PROCESS_RISK = (
    "cells can reach the network and read your files and the files and environments of your other processes"
)


def _as_root(note: str) -> str:
    return note + ("; running as root, so the process cap does not apply" if os.geteuid() == 0 else "")


@lru_cache(maxsize=4)
def _bwrap_works(bwrap: str, python: str) -> str | None:
    """None if bubblewrap can start a worker-like process here; else why not."""
    try:
        done = subprocess.run([bwrap, *BWRAP_ARGS, python, "-c", "pass"], capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"  # one line: it goes into the notice


def choose_isolation(settings: SandboxSettings) -> Isolation:
    if settings.isolation == "process":
        return Isolation(
            "process",
            _as_root(f"process: isolation by bubblewrap is turned off in the config; {PROCESS_RISK}"),
        )
    bwrap = shutil.which("bwrap")
    problem = "bubblewrap (bwrap) is not installed" if bwrap is None else _bwrap_works(bwrap, sys.executable)
    if problem is None:
        return Isolation(
            "bubblewrap",
            _as_root("bubblewrap: no network, read-only outside the session folder, own process tree"),
        )
    if settings.isolation == "bubblewrap":
        raise WorkerStartError(f"sandbox isolation 'bubblewrap' was asked for, but {problem}")
    return Isolation("process", _as_root(f"process only: {problem}; {PROCESS_RISK}"))


def user_process_count() -> int:
    """Processes of this user now: RLIMIT_NPROC counts them all, so the worker's cap sits above."""
    uid = os.getuid()
    count = 0
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    count += entry.stat().st_uid == uid
                except OSError:
                    pass
    except OSError:
        return 0
    return count


def worker_command(settings: SandboxSettings, workdir: Path, fd: int, isolation: Isolation) -> list[str]:
    args = settings.worker_args()
    args["nproc"] = user_process_count() + settings.max_processes
    python = [sys.executable, "-P", "-m", "rlm_tui.sandbox.worker", str(fd), json.dumps(args)]
    if isolation.level != "bubblewrap":
        return python
    bwrap = shutil.which("bwrap") or "bwrap"
    return [bwrap, *BWRAP_ARGS, "--bind", str(workdir), str(workdir), "--chdir", str(workdir), "--", *python]


def harden_host() -> None:
    """Without a PID namespace the worker could read the host's /proc/<pid>/environ (API keys):
    mark the host non-dumpable, which makes those entries readable by root only."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def death_cause(returncode: int | None) -> str:
    if returncode is None:
        return "the worker process stopped answering"
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if number:  # killed by a signal (bubblewrap reports it as 128 + the signal number)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        hint = " (out of memory, or killed)" if name == "SIGKILL" else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with code {returncode}"
