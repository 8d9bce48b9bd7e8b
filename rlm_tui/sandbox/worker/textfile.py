"""An attached file's text: a str, or a ``BigText`` when it is too large to hold.

Shared by ``files`` (plain text files) and ``tables`` (a table's ``.text``).
"""

from __future__ import annotations

import os
from typing import Any

from rlm_tui.sandbox.worker import bigtext

SNIFF = 8192
# An attached file's blake2b, taken while it is read for loading (the host records it, so the
# file is never read a second time just to hash it): key -> hex digest, taken by the reply.
DIGESTS: dict[tuple[str, str], str] = {}


def hasher() -> Any:
    import hashlib

    return hashlib.blake2b(digest_size=16)


def digest_fd(fd: int, key: tuple[str, str]) -> None:
    """Hash a file that loading does not read whole (a table, read on demand)."""
    h, pos = hasher(), 0
    while block := os.pread(fd, 1 << 20, pos):
        h.update(block)
        pos += len(block)
        os.lseek(fd, pos, os.SEEK_SET)  # the offset the host shares: how far loading got
    DIGESTS[key] = h.hexdigest()


BIG_BYTES = 64 << 20  # a text file larger than this stays in its file (the worker's setting may change it)


def is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed block is still text.
        return exc.start < len(head) - 4
    return False


def text_of(fd: int, name: str, key: tuple[str, str], owned: bool = True) -> Any:
    """The file's text (a str, or a ``BigText`` when large), or bytes for a binary file. An
    ``owned`` descriptor is closed once read and its large text registered for snapshots."""
    size = os.fstat(fd).st_size
    if size > BIG_BYTES and not is_binary(os.pread(fd, SNIFF, 0)):
        big = bigtext.BigText(fd, name, key, digest=hasher() if owned else None)
        if owned and big.digest:
            DIGESTS[key] = big.digest
        if owned:
            bigtext.register(key, big)
        return big
    with os.fdopen(os.dup(fd), "rb") as fh:  # the offset is shared: read from the start
        fh.seek(0)
        data = fh.read()
    if owned:
        os.close(fd)
        h = hasher()
        h.update(data)
        DIGESTS[key] = h.hexdigest()
    if is_binary(data[:SNIFF]):
        return data
    return data.decode("utf-8", errors="replace")
