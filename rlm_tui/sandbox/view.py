"""What a worker sees of the file system under bubblewrap: only what Python needs, read-only.

Not ``--ro-bind / /``: that showed every session's database, the config file with its model
settings, the home folder, /etc/shadow and every Unix socket on the machine. Here the worker gets
the system's programs and libraries, the few /etc files Python and the C library read, the
interpreter and its packages, this package's folder, a private /tmp, a fresh /dev and /proc, and
its own session folder writable; attached files reach it as open descriptors, never as paths.
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from rlm_tui.sandbox.identity import code_paths

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/mime.types",
)
NAMESPACES = (
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
)
UNPRIVILEGED_ID = "65534"  # nobody: inside its own user namespace the worker holds no root


def _link_or_bind(path: str) -> list[str]:
    if os.path.islink(path):
        return ["--symlink", os.readlink(path), path]
    if os.path.exists(path):
        return ["--ro-bind", path, path]
    return []


def _python_roots() -> list[str]:
    """The interpreter, its standard library, the venv and this package, without duplicates or
    folders already inside another (binding a parent covers its children)."""
    roots = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)}
    roots.update(os.path.realpath(p.parent if p.is_file() else p) for p in code_paths())
    roots.update({sys.prefix, os.path.dirname(sys.executable)})  # the venv's own (linked) paths
    ordered = sorted(roots, key=len)
    kept: list[str] = []
    for root in ordered:
        if any(root == k or root.startswith(k.rstrip("/") + "/") for k in kept):
            continue
        if any(root == s or root.startswith(s + "/") for s in SYSTEM):
            continue
        kept.append(root)
    return kept


def view_args(workdir: Path, scratch_bytes: int, as_root: bool) -> list[str]:
    """bubblewrap's arguments for the worker's view, namespaces and (as root) user."""
    args: list[str] = []
    for path in SYSTEM:
        args += _link_or_bind(path)
    for pattern in (*ETC, "/etc/python3*"):
        for path in sorted(glob.glob(pattern)):
            args += _link_or_bind(path)
    for root in _python_roots():
        args += ["--ro-bind", root, root]
    args += ["--size", str(scratch_bytes), "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc"]
    args += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    args += ["--remount-ro", "/"]  # the folders bubblewrap made for the mounts stay as they are
    if as_root:
        args += ["--unshare-user", "--uid", UNPRIVILEGED_ID, "--gid", UNPRIVILEGED_ID]
    return [*args, *NAMESPACES]
