"""A cgroup per worker, so the memory and process caps hold for its whole process tree.

RLIMIT_AS and RLIMIT_NPROC are per process (four forks each get the full memory cap) and root is
exempt from the process cap. A cgroup counts every process the worker starts, whatever it does.
cgroup v1 (a ``pids`` and a ``memory`` hierarchy) and v2 (one unified tree) are both handled; the
worker's group is made under the host's own group where that is writable, else at the root.
Where no group can be made, ``create`` returns None and the rlimits are all there is.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PROC_OVERHEAD = 4  # bubblewrap's own processes and the worker's guardian count towards pids.max
REMOVE_SECONDS = 3.0  # killed processes leave the group once the kernel has reaped them
_ids = itertools.count(1)


@dataclass(frozen=True)
class Cgroup:
    dirs: tuple[Path, ...]  # one per hierarchy (v1: pids and memory; v2: one)

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(x) for x in (d / "cgroup.procs").read_text().split())
        return found

    def joined(self, pid: int) -> int:
        """In how many hierarchies ``pid`` is (the join runs as the worker's user: it may fail)."""
        count = 0
        for d in self.dirs:
            with contextlib.suppress(OSError):
                count += str(pid) in (d / "cgroup.procs").read_text().split()
        return count

    def kill_all(self, rounds: int = 50) -> None:
        """SIGKILL every process in the group until it is empty (a fork bomb keeps forking)."""
        for _ in range(rounds):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Remove the group; a group still holding a dying process is retried by a later call."""
        self.kill_all()
        deadline = time.monotonic() + REMOVE_SECONDS
        for d in self.dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last killed process is being reaped
                    if time.monotonic() > deadline:
                        break
                    self.kill_all(rounds=1)
                    time.sleep(0.01)


def _own_paths() -> dict[str, str]:
    """The host's own group in each hierarchy (controller -> path), from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _sweep(base: Path) -> None:
    """Remove empty groups left by hosts that were killed (nobody was left to remove them)."""
    try:
        entries = list(base.glob("rlm-*-*"))
    except OSError:
        return
    for d in entries:
        host = d.name.split("-")[1]
        with contextlib.suppress(OSError):
            # old enough not to be one a host (maybe in another PID namespace) is about to join
            if (
                host.isdigit()
                and not os.path.exists(f"/proc/{host}")
                and time.time() - d.stat().st_mtime > 60
            ):
                d.rmdir()  # fails, harmlessly, if anything still runs in it


def _make_dir(bases: list[Path], name: str) -> Path | None:
    for base in bases:
        _sweep(base)
        d = base / name
        try:
            d.mkdir()
        except OSError:
            continue
        return d
    return None


def _bases(mount: Path, own: str | None) -> list[Path]:
    candidates = [mount / own.lstrip("/")] if own and own != "/" else []
    return [*candidates, mount]


def _create_v1(name: str, memory_bytes: int, max_processes: int) -> Cgroup | None:
    own = _own_paths()
    made: list[Path] = []
    try:
        pids = _make_dir(_bases(ROOT / "pids", own.get("pids")), name)
        if pids is None:
            return None
        made.append(pids)
        _write(pids / "pids.max", str(max_processes + PROC_OVERHEAD))
        memory = _make_dir(_bases(ROOT / "memory", own.get("memory")), name)
        if memory is None:
            raise OSError("no memory group")
        made.append(memory)
        _write(memory / "memory.limit_in_bytes", str(memory_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap counts too, where accounted
            with contextlib.suppress(OSError):
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
    except OSError:
        Cgroup(tuple(made)).remove()
        return None
    return Cgroup(tuple(made))


def _create_v2(name: str, memory_bytes: int, max_processes: int) -> Cgroup | None:
    own = _own_paths().get("", "/")
    for base in _bases(ROOT, own):
        try:
            enabled = (base / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if not {"memory", "pids"} <= set(enabled):
            with contextlib.suppress(OSError):
                _write(base / "cgroup.subtree_control", "+memory +pids")
        d = _make_dir([base], name)
        if d is None:
            continue
        try:
            _write(d / "memory.max", str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(max_processes + PROC_OVERHEAD))
        except OSError:
            Cgroup((d,)).remove()
            continue
        return Cgroup((d,))
    return None


def create(memory_bytes: int, max_processes: int, owner: int | None = None) -> Cgroup | None:
    """A new group with both caps, or None where none can be made here.

    ``owner``: the unprivileged uid the worker runs as; it is given the group's ``cgroup.procs``
    so the worker's first process can move itself in (it cannot leave: the other groups' files
    are not its own).
    """
    name = f"rlm-{os.getpid()}-{next(_ids)}"
    if (ROOT / "pids").is_dir() and (ROOT / "memory").is_dir():
        group = _create_v1(name, memory_bytes, max_processes)
    elif (ROOT / "cgroup.controllers").exists():
        group = _create_v2(name, memory_bytes, max_processes)
    else:
        group = None
    if group is not None and owner is not None:
        try:
            for d in group.dirs:
                for leaf in ("cgroup.procs", "tasks"):
                    if (d / leaf).exists():
                        os.chown(d / leaf, owner, -1)
        except OSError:
            group.remove()
            return None
    return group


def join_command(group: Cgroup | None, command: list[str]) -> list[str]:
    """``command`` preceded by a shell that moves itself into the group, then execs it: so every
    process the worker (or bubblewrap) ever starts is inside. A failed join is checked after."""
    if group is None:
        return command
    moves = "; ".join(f"echo $$ > {shlex.quote(f)} 2>/dev/null" for f in group.procs_files)
    return ["/bin/sh", "-c", f'{moves}; exec "$@"', "sh", *command]
