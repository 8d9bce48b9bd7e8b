"""The host's side of a child worker started by its parent's worker (``worker.spawn``).

The host asks the parent worker for a child; the parent starts it inside its own sandbox and
cgroup and passes the child's two sockets up the files socket as descriptors. Nothing received is
trusted more than a worker is: the note must name the child the reply named, the descriptors must
be one stream and one packet socket (anything else is closed and refused), and the child must
send READY within the start timeout like any worker. The child has no process handle here: it is
ended through its parent (``END_CHILD``), and its death is seen as its channel closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

from rlm_tui.errors import WorkerDied, WorkerRefused, WorkerStartError
from rlm_tui.sandbox import cgroups, protocol
from rlm_tui.sandbox.cgroups import Cgroup
from rlm_tui.sandbox.transport import Transport

TASKS_PER_CHILD = 5  # a worker's threads (main, channel reader, output capture) and one to spare


def make_room(group: Cgroup | None, max_processes: int, children: int) -> None:
    """The tree's task cap: the worker's own, plus room for ``children`` child workers and the
    spare its worker keeps once it has started one. Children share their parent's caps."""
    if group is None:
        return
    extra = (children + 1) * TASKS_PER_CHILD if children else TASKS_PER_CHILD
    for d in group.dirs:
        with contextlib.suppress(OSError):
            if (d / "pids.max").exists():
                (d / "pids.max").write_text(str(max_processes + cgroups.PROC_OVERHEAD + extra))


@dataclass
class Spawned:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    files: socket.socket
    pid: int  # as the parent sees it (its PID namespace)
    limits: dict[str, Any]


async def ask(parent: Transport | None, op: str, timeout: float, **fields: Any) -> dict[str, Any]:
    """One request to the parent worker, answered by its reader thread; the parent is never
    killed for a slow answer (its cell may be running)."""
    if parent is None or parent.dead:
        raise WorkerDied("the parent REPL is not running")
    _, fut = await parent.request(op, **fields)
    try:
        msg, _ = await asyncio.wait_for(fut, timeout)
    except TimeoutError:
        raise WorkerDied(f"the parent REPL did not answer a {op} request in {timeout:g} s") from None
    if not msg.get("ok"):
        raise WorkerRefused(str(msg.get("error", f"{op} failed"))[:300])
    return msg


def _receive(files: socket.socket, pid: int, timeout: float) -> tuple[socket.socket, socket.socket]:
    """The child's two sockets, from the parent's note for ``pid`` (older notes are dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([files], [], [], left)[0]:
            raise WorkerStartError("the parent REPL did not pass the child's sockets")
        data, fds, _, _ = socket.recv_fds(files, 4096, 8, socket.MSG_DONTWAIT)
        if not data and not fds:
            raise WorkerStartError("the parent REPL closed its files channel")
        try:
            note = json.loads(data)
            wanted = isinstance(note, dict) and note.get("pid") == pid and len(fds) == 2
        except ValueError:
            wanted = False
        if not wanted:
            for fd in fds:
                os.close(fd)
            continue
        socks = [socket.socket(fileno=fd) for fd in fds]
        if (
            socks[0].family != socket.AF_UNIX
            or socks[0].type != socket.SOCK_STREAM
            or (socks[1].type != socket.SOCK_SEQPACKET)
        ):
            for s in socks:
                s.close()
            raise WorkerStartError("the parent REPL passed descriptors that are not the child's sockets")
        return socks[0], socks[1]


@dataclass
class Handed:
    """A child the parent started, its sockets in the host's hands, not yet known to be ready."""

    pid: int
    chan: socket.socket
    files: socket.socket


async def request_child(
    parent: Transport | None, files: socket.socket | None, name: str, timeout: float
) -> Handed:
    """Have the parent start a child worker in its folder's ``.children/<name>`` and take its
    sockets. The caller holds the parent's spawn lock: notes arrive in the order of the requests."""
    if files is None:
        raise WorkerStartError("the parent REPL has no files channel")
    try:
        msg = await ask(parent, protocol.SPAWN_CHILD, timeout, name=name)
    except (WorkerDied, WorkerRefused) as exc:
        raise WorkerStartError(f"the parent REPL could not start a child: {exc}") from None
    pid = msg.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise WorkerStartError("the parent REPL's answer named no child process")
    chan, child_files = await asyncio.to_thread(_receive, files, pid, timeout)
    return Handed(pid, chan, child_files)


async def await_ready(parent: Transport | None, handed: Handed, timeout: float) -> Spawned:
    """Wait for the child's READY (no lock held: children start side by side)."""
    pid = handed.pid
    try:
        reader, writer = await asyncio.open_unix_connection(sock=handed.chan)
    except BaseException:
        handed.chan.close()
        handed.files.close()
        raise
    try:
        ready, _ = await asyncio.wait_for(protocol.recv_stream(reader), timeout)
        good = ready.get("op") == protocol.READY and ready.get("pid") == pid
    except BaseException as exc:
        writer.close()
        handed.files.close()
        with contextlib.suppress(Exception):
            await end_child(parent, pid, remove=False)
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise WorkerStartError(f"the child REPL worker failed to start ({type(exc).__name__})") from None
    if not good:
        writer.close()
        handed.files.close()
        with contextlib.suppress(Exception):
            await end_child(parent, pid, remove=False)
        raise WorkerStartError("the child REPL worker's first message was not the one it should send")
    limits = ready.get("limits")
    return Spawned(reader, writer, handed.files, pid, dict(limits) if isinstance(limits, dict) else {})


async def end_child(
    parent: Transport | None, pid: int, *, kill: bool = True, remove: bool = False, wait: float = 2.0
) -> int | None:
    """Have the parent kill the child (unless ``kill`` is false) and reap it: its exit code, or
    None if it is still running after ``wait`` seconds. ``remove``: its folder goes too."""
    msg = await ask(parent, protocol.END_CHILD, wait + 5.0, pid=pid, kill=kill, remove=remove, wait=wait)
    code = msg.get("returncode")
    return code if isinstance(code, int) and not isinstance(code, bool) else None
