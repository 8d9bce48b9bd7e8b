"""Loading attached files and folders inside the worker, from descriptors the host opened.

The worker may see none of the user's paths (under bubblewrap it sees only its session folder),
so the host opens each file, checks it is a regular one, and passes the open descriptor on the
files socket (``sandbox.fdpass``). A file of gigabytes still never passes through the host or a
prompt. A text file becomes a str; a binary file becomes bytes; a folder becomes a dict of
relative path -> content for the files under it (hidden entries skipped by the host).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

SNIFF = 8192


def _is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed block is still text.
        return exc.start < len(head) - 4
    return False


def load_fd(fd: int) -> str | bytes:
    """Read one attached file from its descriptor (which this closes)."""
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    if _is_binary(data[:SNIFF]):
        return data
    return data.decode("utf-8", errors="replace")


def receive(sock: socket.socket, load: int, kind: str, count: int) -> Any:
    """The ``count`` entries of load number ``load``, as the host sends them: batches of
    [name, error] pairs with one descriptor per entry that has no error. Batches of another
    load (one abandoned by a failed request) are closed and skipped."""
    out: dict[str, Any] = {}
    seen = 0
    while seen < count:
        data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 256)
        if not data:
            raise EOFError("the host closed the files channel")
        batch = json.loads(data)
        if batch.get("load") != load:
            for fd in fds:
                os.close(fd)
            continue
        it = iter(fds)
        for name, error in batch["entries"]:
            seen += 1
            out[name] = f"<unreadable: {error}>" if error else load_fd(next(it))
    if kind == "file":
        (content,) = out.values()
        if isinstance(content, str) and content.startswith("<unreadable: "):
            raise OSError(content[1:-1])
        return content
    return out


def describe_content(name: str, content: Any) -> str:
    """What the model is told about an attached file or folder: its shape, not its text."""
    if isinstance(content, dict):
        return f"folder {name!r}: {len(content):,} files"
    if isinstance(content, bytes):
        return f"binary file {name!r}: {len(content):,} bytes"
    lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
    return f"file {name!r}: {len(content):,} chars, {lines:,} lines"


def describe_files(files: dict[str, Any]) -> str:
    parts = [describe_content(name, content) for name, content in files.items()]
    text = "; ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"
