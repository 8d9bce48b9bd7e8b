"""Starting and killing a worker process: its isolation, its user, its cgroup, its two sockets
(requests, and attached files as descriptors), and its first message.

The session folder is made here without following a link a worker could have planted, and the
worker is never handed a path inside a folder another worker can write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rlm_tui.errors import WorkerStartError
from rlm_tui.sandbox import cgroups, protocol
from rlm_tui.sandbox.cgroups import Cgroup
from rlm_tui.sandbox.children import TASKS_PER_CHILD
from rlm_tui.sandbox.env import worker_env
from rlm_tui.sandbox.identity import give_folder
from rlm_tui.sandbox.process import Isolation, worker_command
from rlm_tui.sandbox.settings import SandboxSettings


@dataclass
class Launched:
    proc: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pid: int
    limits: dict[str, Any]
    files: socket.socket  # the host's end of the files socket
    cgroup: Cgroup | None = field(default=None)  # kept to kill the tree, even if only partly joined
    tree_capped: bool = False  # both caps hold for the whole tree


def make_workdir(workdir: Path) -> None:
    """The session folder, refused if it is (or became) a symbolic link: a worker that can write
    the folder above could have planted one pointing anywhere."""
    workdir.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(workdir)
    except FileExistsError:
        pass
    except OSError as exc:
        raise WorkerStartError(
            f"the REPL's folder {workdir} could not be made: {exc.strerror or exc}"
        ) from None
    if not stat.S_ISDIR(os.lstat(workdir).st_mode):
        raise WorkerStartError(f"the REPL's folder {workdir} is not a folder (a link?): refused")


# Tasks (threads count) the children a worker may start itself take: 16 in flight and a spare, 4
# threads each (main, channel reader, output capture) and one to spare. Where a cgroup caps the
# tree, its limit is raised for each child as it starts (``sandbox.children``); RLIMIT_NPROC, per
# user and only a safety net then, gets the room at once. Without a cgroup there is no room:
# a child that cannot start gets a sandbox of its own.
CHILD_TASKS = 17 * TASKS_PER_CHILD


async def launch(workdir: Path, settings: SandboxSettings, isolation: Isolation) -> Launched:
    """Start a worker and wait for it to say it is ready; ``WorkerStartError`` says why not."""
    make_workdir(workdir)
    user = isolation.user
    if user is not None:
        try:
            give_folder(workdir, user)
        except OSError as exc:
            raise WorkerStartError(f"the REPL's folder could not be given to its user: {exc}") from None
    group = await asyncio.to_thread(
        cgroups.create, settings.memory_bytes, settings.max_processes, user.uid if user else None
    )
    command_settings = settings
    if group is not None and settings.light_children:
        command_settings = replace(settings, max_processes=settings.max_processes + CHILD_TASKS)
    parent, child = socket.socketpair()
    files, files_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fds = (child.fileno(), files_child.fileno())
    identity: dict[str, Any] = (
        {} if user is None else {"user": user.uid, "group": user.gid, "extra_groups": []}
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            *cgroups.join_command(group, worker_command(command_settings, workdir, fds, isolation)),
            pass_fds=fds,
            cwd=workdir,  # entered before the user changes: a folder above it need not be open to it
            env=worker_env(home=str(workdir)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            **identity,
        )
    except OSError as exc:
        parent.close()
        files.close()
        if group is not None:
            group.remove()
        raise WorkerStartError(f"the REPL worker could not be started: {exc.strerror or exc}") from None
    finally:
        child.close()
        files_child.close()
    try:
        reader, writer = await asyncio.open_unix_connection(sock=parent)
    except BaseException:
        await kill(proc, group)
        parent.close()
        files.close()
        raise
    try:
        msg, _ = await asyncio.wait_for(protocol.recv_stream(reader), settings.start_timeout)
    except BaseException as exc:
        if not isinstance(exc, asyncio.IncompleteReadError | TimeoutError | ConnectionError | ValueError):
            await kill(proc, group)  # cancelled while it starts (the user quit): nothing outlives us
            writer.close()
            files.close()
            raise
        err = b""
        files.close()
        if group is not None:
            group.remove()
        with contextlib.suppress(Exception):
            proc.kill()
            if proc.stderr is not None:
                err = await asyncio.wait_for(proc.stderr.read(), 2)
        writer.close()
        detail = err.decode(errors="replace").strip()[-2000:] or type(exc).__name__
        raise WorkerStartError(f"the REPL worker failed to start: {detail}") from exc
    if msg.get("op") != protocol.READY or not isinstance(msg.get("pid"), int):
        await kill(proc, group)
        writer.close()
        files.close()
        raise WorkerStartError("the REPL worker's first message was not the one it should send")
    joined = group.joined(proc.pid) if group is not None else 0
    if group is not None and not joined:  # the join failed: per-process caps only
        group.remove()
        group = None
    tree_capped = group is not None and joined == len(group.dirs)
    limits = dict(msg.get("limits") or {})
    return Launched(proc, reader, writer, msg["pid"], limits, files, group, tree_capped)


async def kill(proc: asyncio.subprocess.Process, group: Cgroup | None = None) -> None:
    """Kill the worker and everything it started: its cgroup where it has one; else its
    guardian (process mode), which kills the tree below it, and its process group."""
    if group is not None:
        await asyncio.to_thread(group.remove)
    elif proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGTERM)  # the guardian's cue (bubblewrap dies with it too)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), 2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
