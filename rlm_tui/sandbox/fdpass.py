"""Attached files, opened by the host and passed to the worker as descriptors.

The worker may see none of the user's paths, and a path it is told to read could be a FIFO that
blocks forever or /dev/zero that never ends: so the host opens each file itself (non-blocking, so
opening a FIFO returns at once), checks with fstat that it is a regular file or a folder, and
sends the open descriptors over a SOCK_SEQPACKET socketpair made at launch, in batches. A folder
is walked without following links into other places; hidden entries are skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from rlm_tui.errors import AttachmentError

BATCH = 128  # descriptors per message (the kernel allows 253)
_loads = itertools.count(1)


def _open(path: str, follow: bool) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    return os.open(path, flags)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


@dataclass
class Attachment:
    """A file or folder the user attached: what the worker is told, and what the host sends."""

    path: str
    kind: str  # file | dir
    names: list[str]  # relative names (one empty name for a file)
    load: int
    # A single file's descriptor kept by the host once sent: the worker's copy shares its offset,
    # which the worker's loading moves forward as it reads (see ``read_so_far``).
    _watch: int | None = None
    size: int = 0
    _over: bool = False  # ``done`` was called: nothing more is watched
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, path: str) -> Attachment:
        """Check the path at once; ``AttachmentError`` names what is wrong with it."""
        try:
            fd = _open(path, follow=True)  # the user named it: a link they gave is theirs
        except OSError as exc:
            raise AttachmentError(f"cannot attach {path}: {exc.strerror or exc}") from None
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        if stat.S_ISREG(mode):
            return cls(path, "file", [""], next(_loads))
        if not stat.S_ISDIR(mode):
            raise AttachmentError(f"cannot attach {path}: it is {_kind(mode)}, not a regular file or folder")
        return cls(path, "dir", list(_walk(path)), next(_loads))

    def batches(self) -> Iterator[tuple[bytes, list[int]]]:
        """(message, descriptors) in batches; the caller closes the descriptors once sent."""
        for start in range(0, len(self.names), BATCH):
            entries: list[list[str | None]] = []
            fds: list[int] = []
            for name in self.names[start : start + BATCH]:
                error = None
                try:
                    fd = _open(os.path.join(self.path, name) if name else self.path, follow=not name)
                except OSError as exc:
                    error = "a symbolic link, not followed" if exc.errno == 40 else (exc.strerror or str(exc))
                else:
                    mode = os.fstat(fd).st_mode
                    if stat.S_ISREG(mode):
                        fds.append(fd)
                    else:
                        os.close(fd)
                        error = f"{_kind(mode)}, not read"
                entries.append([name or os.path.basename(self.path), error])
            yield json.dumps({"load": self.load, "entries": entries}).encode(), fds

    def send(self, sock: socket.socket) -> None:
        """Send every batch (blocking: run in a thread while the worker reads them)."""
        for data, fds in self.batches():
            try:
                if self.kind == "file" and fds:
                    with self._lock:
                        if self._watch is None and not self._over:
                            self.size = os.fstat(fds[0]).st_size
                            self._watch = os.dup(fds[0])
                socket.send_fds(sock, [data], fds)
            finally:
                for fd in fds:
                    os.close(fd)

    def read_so_far(self) -> tuple[int, int] | None:
        """(bytes read, the file's size) while a single file loads, or None (a folder, not sent
        yet, or done). The worker says nothing here: the count is the offset of the descriptor
        it shares with ours, clamped to the size, so a worker that moves it only moves a gauge."""
        with self._lock:
            if self._watch is None or not self.size:
                return None
            return min(max(os.lseek(self._watch, 0, os.SEEK_CUR), 0), self.size), self.size

    def done(self) -> None:
        with self._lock:
            self._over = True
            fd, self._watch = self._watch, None
        if fd is not None:
            os.close(fd)


def _walk(top: str) -> Iterator[str]:
    for root, dirs, files in os.walk(top, followlinks=False):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(root, d))
        )
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.relpath(os.path.join(root, name), top)
