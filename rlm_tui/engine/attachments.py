"""Files and folders attached to a session, kept by reference (path, size, mtime, hash): what a
resumed session checks before loading them again."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Attachment:
    name: str
    path: str
    type: str
    size: int  # chars (text), bytes (binary) or files (folder), as loaded
    disk_bytes: int = 0
    mtime: float = 0.0
    digest: str = ""  # blake2b of the file (of the listing of sizes and mtimes, for a folder)


def readable_problem(path: Path) -> str | None:
    """Why this path cannot be attached, or None. One message for the CLI, the app and the engine."""
    if not path.exists():
        return f"{path}: no such file or folder"
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        return f"{path}: permission denied"
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            return f"{path}: cannot be read ({exc.strerror or exc})"
    return None


def fingerprint(path: Path, hash_file: bool = True) -> tuple[int, float, str]:
    """(bytes on disk, mtime, blake2b hex) of a file, or of a folder's listing of sizes and mtimes.
    ``hash_file=False``: a file's digest is left empty (the REPL takes it as it reads the file)."""
    digest = hashlib.blake2b(digest_size=16)
    if path.is_dir():
        total, latest = 0, path.stat().st_mtime
        for item in sorted(path.rglob("*")):
            if item.is_file() and not any(part.startswith(".") for part in item.relative_to(path).parts):
                st = item.stat()
                total += st.st_size
                latest = max(latest, st.st_mtime)
                digest.update(f"{item.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return total, latest, digest.hexdigest()
    st = path.stat()
    if not hash_file:
        return st.st_size, st.st_mtime, ""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return st.st_size, st.st_mtime, digest.hexdigest()
