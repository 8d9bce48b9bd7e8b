"""Who the worker runs as. As root it would be exempt from the process cap and could read every
process's /proc entries (API keys in the host's environment), ptrace or kill the host: so a root
host starts its worker as ``nobody`` when that user exists and can reach the interpreter and the
code the worker imports; otherwise the worker stays root and the isolation note says why.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED = "nobody"


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int


def code_paths() -> list[Path]:
    """What the worker's interpreter must read: itself, the standard library, site-packages
    (cloudpickle), and the folder this package is imported from."""
    import cloudpickle

    import rlm_tui

    paths = [
        Path(os.path.realpath(sys.executable)),
        Path(sysconfig.get_paths()["stdlib"]),
        Path(os.path.realpath(Path(cloudpickle.__file__).parent)),
        Path(os.path.realpath(Path(rlm_tui.__file__).parent)),
    ]
    return paths


def _reachable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether a process with this uid/gid (and no other groups) can reach and read ``path``."""
    target = Path(os.path.realpath(path))
    for part in [*reversed(target.parents), target]:
        try:
            st = part.stat()
        except OSError:
            return False
        need = stat.S_IXOTH | (stat.S_IROTH if part == target and stat.S_ISDIR(st.st_mode) else 0)
        if st.st_uid == uid:
            need <<= 6
        elif st.st_gid == gid:
            need <<= 3
        if st.st_mode & need != need:
            return False
    return True


def worker_identity() -> tuple[Identity | None, str | None]:
    """(the unprivileged identity to start the worker as, None) when running as root and one can
    be used; (None, why not) when running as root and none can; (None, None) when not root."""
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        return None, f"there is no user {UNPRIVILEGED!r} to run the worker as"
    for path in code_paths():
        if not _reachable_by(path, entry.pw_uid, entry.pw_gid):
            return None, f"user {UNPRIVILEGED!r} cannot read {path}"
    return Identity(entry.pw_uid, entry.pw_gid), None


def give_folder(folder: Path, who: Identity) -> None:
    """Make the session folder (and what is in it) the worker's own, never following a link."""
    os.chown(folder, who.uid, who.gid, follow_symlinks=False)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            os.chown(os.path.join(root, name), who.uid, who.gid, follow_symlinks=False)
