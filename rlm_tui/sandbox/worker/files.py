"""Loading attached files and folders straight from disk, inside the worker.

The host only sends a path: a file of gigabytes never passes through the host or a prompt.
A text file becomes a str; a binary file becomes bytes; a folder becomes a dict of relative
path -> content for the files under it (hidden entries skipped).
"""

from __future__ import annotations

import os
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


def load_file(path: str) -> str | bytes:
    with open(path, "rb") as fh:
        head = fh.read(SNIFF)
    if _is_binary(head):
        with open(path, "rb") as fh:
            return fh.read()
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        return fh.read()


def load_dir(path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            full = os.path.join(root, name)
            try:
                out[os.path.relpath(full, path)] = load_file(full)
            except OSError as exc:
                out[os.path.relpath(full, path)] = f"<unreadable: {exc.strerror or exc}>"
    return out


def load_path(path: str) -> Any:
    if os.path.isdir(path):
        return load_dir(path)
    return load_file(path)


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
