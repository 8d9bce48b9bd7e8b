"""One writer per session, across processes: an exclusive ``flock`` on ``$RLM_HOME/locks/ID.lock``
held while a session is open for work (``rlm ask`` for its turn, the app while the session is
on screen for work).

Why while open and not per turn: a session's REPL lives in the process that opened it. If another
process ran a turn in between, the first one's variables, ``memory`` and ``history`` would be
stale and its next snapshot would silently drop the other turn's work. Holding the lock from
resume to close means the second writer either waits for the first to finish (and then resumes
from what it recorded: turn 3, not a second turn 2) or fails with one clear line.

The lock lives under ``$RLM_HOME``, which the sandboxed REPL never sees, so model code cannot
hold it; the kernel drops it when its process dies, even by kill -9, so a crash leaves no stale
lock. The descriptor is not inherited by the REPL worker (Python opens files close-on-exec).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

from rlm_tui.errors import SessionBusy, StoreError

POLL_SECONDS = 0.05


class SessionLock:
    def __init__(self, folder: Path, session_id: str) -> None:
        self.session_id = session_id
        self.path = folder / f"{session_id}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    async def acquire(self, wait: float) -> None:
        """Take the lock, waiting up to ``wait`` seconds for another process to let it go;
        ``SessionBusy`` (naming the session and the process holding it) when it does not."""
        fd = self._open()
        deadline = time.monotonic() + wait
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    by = f" by process {holder}" if holder else ""
                    raise SessionBusy(
                        f"session {self.session_id} is in use{by} (a turn, or the app has it open); "
                        f"waited {wait:g} s: try again when it is done"
                    )
                await asyncio.sleep(POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # who holds it, for the message above
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot lock session {self.session_id}: {self.path} cannot be written "
                f"({exc.strerror or exc}); check that {self.path.parent.parent} can be written"
            ) from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
