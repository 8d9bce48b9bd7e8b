"""The session folder's scratch space, capped as a whole.

RLIMIT_FSIZE caps each file a cell writes, but a cell can write many files: left alone it fills
the disk that holds ``$RLM_HOME``. So the host measures the folder while a cell runs (what is on
disk, ``st_blocks``, so a sparse file counts for what it really takes) and stops a cell that takes
the folder past the cap; then it removes the files that cell wrote, newest first, until the folder
is back under the cap. The folder is one the worker can write, so the host walks it with
``os.fwalk`` (directory descriptors, links never followed) and unlinks relative to those
descriptors: a folder swapped for a link in the meantime cannot turn a removal outwards.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

MAX_ENTRIES = 200_000  # a folder with more entries than this counts as over any cap


@dataclass
class Usage:
    bytes: int = 0
    entries: int = 0
    written: list[tuple[float, int, str]] = field(default_factory=list)  # (mtime, size, relative path)

    @property
    def complete(self) -> bool:
        return self.entries < MAX_ENTRIES


def measure(root: os.PathLike | str, since: float | None = None) -> Usage:
    """What the folder holds on disk; with ``since``, also the files modified at or after it."""
    usage = Usage()
    try:
        walker = os.fwalk(root, follow_symlinks=False)
        for dirpath, _dirs, names, dirfd in walker:
            for name in names:
                usage.entries += 1
                if usage.entries >= MAX_ENTRIES:
                    return usage
                try:
                    st = os.lstat(name, dir_fd=dirfd)
                except OSError:
                    continue
                size = st.st_blocks * 512
                usage.bytes += size
                if since is not None and stat.S_ISREG(st.st_mode) and st.st_mtime >= since:
                    rel = os.path.relpath(os.path.join(dirpath, name), root)
                    usage.written.append((st.st_mtime, size, rel))
    except OSError:
        pass
    return usage


def over(root: os.PathLike | str, cap: int) -> Usage | None:
    usage = measure(root)
    return usage if usage.bytes > cap or not usage.complete else None


def trim(root: os.PathLike | str, cap: int, since: float) -> tuple[list[str], int]:
    """Remove the files written since ``since``, newest first, until the folder is under ``cap``.

    Returns the removed paths (relative) and the folder's size afterwards."""
    usage = measure(root, since)
    total = usage.bytes
    removed: list[str] = []
    for _, size, rel in sorted(usage.written, reverse=True):
        if total <= cap:
            break
        if _unlink_within(root, rel):
            removed.append(rel)
            total -= size
    return removed, max(total, 0)


def _unlink_within(root: os.PathLike | str, rel: str) -> bool:
    """Unlink ``rel`` under ``root`` without following a link on the way."""
    parts = rel.split(os.sep)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        fd = os.open(root, flags)
    except OSError:
        return False
    try:
        for part in parts[:-1]:
            nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.unlink(parts[-1], dir_fd=fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def describe(nbytes: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} B"
