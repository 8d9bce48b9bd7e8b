"""Starting a worker process, and how isolated it is.

Under bubblewrap the worker runs in its own PID, network, IPC, UTS (and, as root, user)
namespaces with every capability dropped, and sees a minimal read-only view of the system
(``view``): no network, nothing of the host's processes, no $RLM_HOME, home folder, /run or
sockets, only its session folder writable. In process mode it is a plain child process; as root
it runs as ``nobody`` where that user can reach the interpreter (``identity``), and the host makes
its own /proc entries unreadable to other users. In both modes the memory and process caps hold
for the worker's whole process tree where a cgroup can be made (``cgroups``), else per process
(RLIMIT_AS, RLIMIT_NPROC); the isolation note says which. A file written in the session folder
is capped at ``scratch_bytes`` (RLIMIT_FSIZE; under bubblewrap /tmp is a tmpfs of that size).
A worker never outlives its host: bubblewrap dies with its parent, and in process mode the
worker's guardian (``worker.guardian``) kills the whole tree when the host goes.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from rlm_tui.errors import WorkerStartError
from rlm_tui.sandbox.identity import UNPRIVILEGED, Identity, worker_identity
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.view import view_args

PR_SET_DUMPABLE = 4


@dataclass(frozen=True)
class Isolation:
    level: str  # bubblewrap | process
    note: str  # what it means, for the status bar and the one-time notice
    user: Identity | None = None  # process mode as root: the unprivileged user the worker runs as


TREE_CAPS = "memory and processes capped for the whole worker tree (cgroup)"
PROCESS_CAPS = "memory and processes capped per process only (no cgroup could be made)"


def with_caps(isolation: Isolation, tree_capped: bool) -> Isolation:
    """The note completed with which caps hold, known once the worker has started."""
    caps = TREE_CAPS if tree_capped else PROCESS_CAPS
    if caps in isolation.note:
        return isolation
    note = isolation.note.replace(f"; {TREE_CAPS}", "").replace(f"; {PROCESS_CAPS}", "")
    return replace(isolation, note=f"{note}; {caps}")


PROCESS_RISK = (
    "cells can reach the network and read your files and the files and environments of your other processes"
)


def _as_root(note: str, why_not: str | None) -> str:
    if why_not:
        return f"{note}; running as root and the worker could not drop to an unprivileged user ({why_not})"
    return note


@lru_cache(maxsize=4)
def _bwrap_works(bwrap: str, python: str) -> str | None:
    """None if bubblewrap can start a worker-like process here; else why not."""
    try:
        probe = Path(tempfile.mkdtemp(prefix="rlm-probe-"))
        try:
            args = view_args(probe, 1 << 20, os.geteuid() == 0)
            done = subprocess.run([bwrap, *args, python, "-c", "pass"], capture_output=True, timeout=20)
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"  # one line: it goes into the notice


def choose_isolation(settings: SandboxSettings) -> Isolation:
    if settings.isolation == "process":
        user, why_not = worker_identity()
        return Isolation(
            "process",
            _as_root(f"process: isolation by bubblewrap is turned off in the config; {risk(user)}", why_not),
            user,
        )
    bwrap = shutil.which("bwrap")
    problem = "bubblewrap (bwrap) is not installed" if bwrap is None else _bwrap_works(bwrap, sys.executable)
    if problem is None:
        return Isolation(
            "bubblewrap",
            "bubblewrap: no network, sees only the system's programs and its session folder, own process tree",
        )
    if settings.isolation == "bubblewrap":
        raise WorkerStartError(f"sandbox isolation 'bubblewrap' was asked for, but {problem}")
    user, why_not = worker_identity()
    return Isolation("process", _as_root(f"process only: {problem}; {risk(user)}", why_not), user)


def risk(user: Identity | None) -> str:
    if user is not None:
        return (
            f"cells run as user {UNPRIVILEGED!r} but can reach the network and read what every user may read"
        )
    return PROCESS_RISK


def user_process_count(uid: int | None = None) -> int:
    """Processes of the worker's user now: RLIMIT_NPROC counts them all, so its cap sits above."""
    uid = os.getuid() if uid is None else uid
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


def worker_command(
    settings: SandboxSettings, workdir: Path, fds: tuple[int, int], isolation: Isolation
) -> list[str]:
    """The worker's command line: ``python -m rlm_tui.sandbox.worker CHANNEL_FD FILES_FD ARGS``,
    under bubblewrap with its view when that is the isolation."""
    args: dict[str, object] = dict(settings.worker_args())
    args["nproc"] = (
        user_process_count(isolation.user.uid if isolation.user else None) + settings.max_processes
    )
    args["guardian"] = isolation.level != "bubblewrap"  # bubblewrap's PID namespace does that job
    args["host_pid"] = os.getpid()
    python = [
        sys.executable,
        "-P",
        "-m",
        "rlm_tui.sandbox.worker",
        str(fds[0]),
        str(fds[1]),
        json.dumps(args),
    ]
    if isolation.level != "bubblewrap":
        return python
    bwrap = shutil.which("bwrap") or "bwrap"
    return [bwrap, *view_args(workdir, settings.scratch_bytes, os.geteuid() == 0), "--", *python]


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
