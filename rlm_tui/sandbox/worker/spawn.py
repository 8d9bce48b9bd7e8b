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
from typing import Any

from rlm_tui.sandbox import protocol

CHILDREN = ".children"  # inside this worker's folder
NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class Spawner:
    """Starts, ends and reaps this worker's children; one lock serialises spawns (the
    descriptors must reach the host in the order their replies do)."""

    def __init__(self, channel: Any, files_sock: socket.socket, settings: dict[str, Any]) -> None:
        self.channel = channel
        self.files_sock = files_sock
        self.settings = settings
        self.home = os.path.join(os.getcwd(), CHILDREN)
        self.lock = threading.Lock()
        self.children: dict[int, str] = {}  # pid -> folder
        self.status: dict[int, int] = {}  # pid -> exit code, once reaped
        self.reaped = threading.Condition()

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

    def spawn(self, msg: dict[str, Any]) -> dict[str, Any]:
        folder = self.folder(str(msg.get("name")))
        chan, chan_child = socket.socketpair()
        files, files_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            args = dict(self.settings, guardian=False, parent_pid=os.getpid(), cwd=folder)
            argv = [
                sys.executable,
                "-P",
                "-m",
                "rlm_tui.sandbox.worker",
                str(chan_child.fileno()),
                str(files_child.fileno()),
                json.dumps(args),
            ]
            env = dict(os.environ, HOME=folder)
            null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
            with self.lock:
                for s in (chan_child, files_child):
                    os.set_inheritable(s.fileno(), True)
                pid = os.posix_spawn(sys.executable, argv, env, file_actions=null)
                self.children[pid] = folder
                threading.Thread(target=self._reap, args=(pid,), name=f"reap-{pid}", daemon=True).start()
                note = json.dumps({"spawn": msg.get("id"), "pid": pid}).encode()
                socket.send_fds(self.files_sock, [note], [chan.fileno(), files.fileno()])
        finally:
            for s in (chan, chan_child, files, files_child):
                s.close()
        return {"pid": pid}

    def _reap(self, pid: int) -> None:
        try:
            _, raw = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(raw)
        except ChildProcessError:
            code = -signal.SIGKILL
        with self.reaped:
            self.status[pid] = code
            self.reaped.notify_all()

    def end(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Kill a child (unless it already ended) and say how it ended; ``remove`` its folder."""
        pid = msg.get("pid")
        if not isinstance(pid, int) or pid not in self.children:
            raise ValueError("no such child")
        with self.reaped:
            if pid not in self.status and msg.get("kill", True):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.reaped.wait_for(lambda: pid in self.status, timeout=float(msg.get("wait", 2.0)))
            code = self.status.get(pid)
        if msg.get("remove"):
            shutil.rmtree(self.children[pid], ignore_errors=True)  # never follows a link inside
            with contextlib.suppress(OSError):
                os.rmdir(self.home)  # the last child gone
        if code is not None:
            self.children.pop(pid, None)
            self.status.pop(pid, None)
        return {"returncode": code}
