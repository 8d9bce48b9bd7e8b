"""Child workers started by this worker: a child RLM costs one process, not a new sandbox.

A worker is already inside its sandbox (its bubblewrap view, its user, its cgroup), and a child
RLM runs code of the same trust as its parent. So the parent worker starts the child's worker
itself -- one ``os.posix_spawn`` of the same interpreter, safe from this reader thread while a
cell holds the main thread -- in a folder it makes inside its own, on two new socketpairs, and
hands the host their other ends over the files socket (SCM_RIGHTS). The host never follows a path
for it. The child inherits the sandbox, the user and the cgroup, so the caps hold for the whole
tree; it dies with this worker (parent-death signal, and the guardian or PID namespace above).

Both requests are answered on the reader thread (``Channel.inline``): the host asks for a child
while the parent's cell is blocked in ``rlm_query``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from rlm_tui.sandbox import protocol

CHILDREN = ".children"  # inside this worker's folder
START = "start"  # the first frame a spare reads: its folder (before it says READY)
NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


@dataclass
class Spare:
    """A started worker process not yet given to a child, and this worker's ends of its sockets."""

    pid: int
    chan: socket.socket
    files: socket.socket

    def close(self) -> None:
        self.chan.close()
        self.files.close()


def await_start(sock: socket.socket) -> None:
    """In a spare: wait for its folder from the parent, then work there (``HOME`` too)."""
    try:
        msg, _ = protocol.recv_blocking(sock, protocol.DEFAULT_LIMITS)
    except (EOFError, OSError, ValueError):
        os._exit(0)  # the parent went before giving it a child to be
    finally:
        sock.detach()  # the descriptor stays open: it becomes the channel
    if msg.get("op") != START or not isinstance(msg.get("cwd"), str):
        os._exit(2)
    os.chdir(msg["cwd"])
    os.environ["HOME"] = msg["cwd"]


class Spawner:
    """Starts, ends and reaps this worker's children (a child is reaped when the host ends it);
    one lock serialises spawns (the
    descriptors must reach the host in the order their replies do)."""

    def __init__(self, channel: Any, files_sock: socket.socket, settings: dict[str, Any]) -> None:
        self.channel = channel
        self.files_sock = files_sock
        self.settings = settings
        self.home = os.path.join(os.getcwd(), CHILDREN)
        self.lock = threading.Lock()
        self.children: dict[int, str] = {}  # pid -> folder
        self.spare: Spare | None = None  # the next child's process, started ahead

    def install(self) -> None:
        self.channel.inline[protocol.SPAWN_CHILD] = self._answer(self.spawn)
        self.channel.inline[protocol.END_CHILD] = self._answer(self.end)

    def _answer(self, handler: Any) -> Any:
        def run(msg: dict[str, Any], blobs: list[bytes]) -> None:
            try:
                fields = handler(msg)
            except Exception as exc:  # never let it reach the reader loop: that would end us
                self.channel.reply(msg.get("id"), ok=False, error=f"{type(exc).__name__}: {exc}")
            else:
                self.channel.reply(msg.get("id"), ok=True, **fields)

        return run

    def folder(self, name: str) -> str:
        """The child's folder, made (or found again, for a restart) inside ours; never a link."""
        if not NAME.fullmatch(name) or name in (".", ".."):
            raise ValueError(f"bad child name {name!r}")
        for path in (self.home, os.path.join(self.home, name)):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700)
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise OSError(f"{path} is not a folder (a link?)")
        return os.path.join(self.home, name)

    def _start(self) -> Spare:
        """A new worker process, its imports done, waiting on its channel for its folder."""
        chan, chan_child = socket.socketpair()
        files, files_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            args = dict(self.settings, guardian=False, parent_pid=os.getpid(), spare=True)
            argv = [
                sys.executable,
                "-P",
                "-m",
                "rlm_tui.sandbox.worker",
                str(chan_child.fileno()),
                str(files_child.fileno()),
                json.dumps(args),
            ]
            null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
            with self.lock:
                for end in (chan_child, files_child):
                    os.set_inheritable(end.fileno(), True)
                pid = os.posix_spawn(sys.executable, argv, dict(os.environ), file_actions=null)
        except BaseException:
            chan.close()
            files.close()
            raise
        finally:
            chan_child.close()
            files_child.close()
        return Spare(pid, chan, files)

    def _take_spare(self) -> Spare:
        spare, self.spare = self.spare, None
        if spare is not None and self._reaped(spare.pid, 0) is None:
            return spare
        if spare is not None:  # it died waiting: a fresh one
            spare.close()
        return self._start()

    def spawn(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Hand the spare (started after the last child, so its start-up is already done) to the
        host with its folder; then start the next spare, for this worker's next child."""
        folder = self.folder(str(msg.get("name")))
        spare = self._take_spare()
        try:
            spare.chan.sendall(protocol.encode({"op": START, "cwd": folder}))
            self.children[spare.pid] = folder
            note = json.dumps({"spawn": msg.get("id"), "pid": spare.pid}).encode()
            socket.send_fds(self.files_sock, [note], [spare.chan.fileno(), spare.files.fileno()])
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.kill(spare.pid, signal.SIGKILL)
            self._reaped(spare.pid, 1.0)
            self.children.pop(spare.pid, None)
            raise
        finally:
            spare.close()
        with contextlib.suppress(OSError):  # no spare now only costs the next child its start-up
            self.spare = self._start()
        return {"pid": spare.pid}

    def _reaped(self, pid: int, wait: float) -> int | None:
        """The child's exit code once it has ended (reaped here), within ``wait`` seconds. No
        reaper thread per child: threads count towards the tree's process cap."""
        deadline = time.monotonic() + wait
        while True:
            try:
                done, raw = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return -signal.SIGKILL
            if done:
                return os.waitstatus_to_exitcode(raw)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)

    def end(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Kill a child (unless it already ended) and say how it ended; ``remove`` its folder."""
        pid = msg.get("pid")
        if not isinstance(pid, int) or pid not in self.children:
            raise ValueError("no such child")
        if msg.get("kill", True):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid is still this child's
        code = self._reaped(pid, min(float(msg.get("wait", 2.0)), 10.0))
        if msg.get("remove"):
            shutil.rmtree(self.children[pid], ignore_errors=True)  # never follows a link inside
            with contextlib.suppress(OSError):
                os.rmdir(self.home)  # the last child gone
        if code is not None:
            self.children.pop(pid, None)
        return {"returncode": code}
