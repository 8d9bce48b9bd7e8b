"""A worker never outlives its host, nor leaves a process behind.

In process mode a cell can double-fork a ``setsid`` daemon, or hold the interpreter lock in a
C-level loop so no thread of the worker runs again. So the worker's first process stays out of
model code entirely: it forks the real worker, becomes the subreaper of everything below it (an
orphaned daemon is re-parented to it, not to init), and when the host dies (its parent-death
signal) or the worker ends, it kills every process of its tree and exits with the worker's status.
Under bubblewrap the PID namespace does the same job: it is not used there.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


class HostGone(Exception):
    pass


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Get ``sig`` when the parent goes; if it already went, act as if it came now."""
    _prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def descendants(root: int) -> list[int]:
    """Live (not zombie) processes below ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == b"Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def kill_tree(root: int) -> None:
    """SIGKILL everything below ``root`` until nothing is left (forks race the kills)."""
    for _ in range(200):
        pids = descendants(root)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _reap()
    _reap()


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _on_host_gone(signum: int, frame: object) -> None:
    raise HostGone


def guard(host_pid: int) -> None:
    """Fork. The child returns (it is the worker); this process guards it and never returns."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    me = os.getpid()
    worker = os.fork()
    if worker == 0:
        die_with_parent(me)
        return
    os.closerange(3, 1 << 16)  # the channel's end stays with the worker: its death is seen at once
    signal.signal(signal.SIGTERM, _on_host_gone)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the worker's cells
    status = 0
    try:
        die_with_parent(host_pid, signal.SIGTERM)
        while True:
            pid, raw = os.waitpid(-1, 0)
            if pid == worker:
                status = os.waitstatus_to_exitcode(raw)
                break
    except (HostGone, ChildProcessError):
        status = -signal.SIGKILL
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kill_tree(me)
    os._exit(128 - status if status < 0 else status)
