"""What may be attached, checked at the door: a regular file or a folder, nothing else.

A FIFO blocks its reader until a writer comes (forever, if none does); ``/dev/zero`` or
``/dev/urandom`` never end; a socket cannot be read as a file. ``os.stat`` tells them apart
without opening anything, so the check itself can never hang. The CLI (``--file``), the app
(``/attach``, ``@path``) and a resumed session's files all come through here."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rlm_tui.engine.attachments import readable_problem

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(st: os.stat_result, *, folders: bool = True) -> str | None:
    """What the path is when it is neither a regular file nor (if ``folders``) a folder."""
    if stat.S_ISREG(st.st_mode) or (folders and stat.S_ISDIR(st.st_mode)):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "a folder"
    return next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")


def attach_problem(path: Path) -> str | None:
    """Why a path cannot be attached (missing, not a regular file or folder, unreadable), or None."""
    try:
        st = os.stat(path)  # follows links: a link to /dev/zero is /dev/zero
    except FileNotFoundError:
        return f"{path}: no such file or folder"
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    kind = not_regular(st)
    if kind:
        return f"{path} is {kind}; only regular files and folders can be attached"
    return readable_problem(path)
