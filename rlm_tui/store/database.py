"""Opening the database: WAL, so a reader never blocks the recorder and a kill -9 loses at most
the event being written; ``synchronous=NORMAL``, which in WAL mode survives a killed process.

A database that cannot be used is never replaced behind the user's back: a damaged file, an
empty (0-byte) one and a folder that cannot be written each give one line naming the file and
what to do (``rlm sessions recover`` copies what can still be read)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import sqlite_utils

from rlm_tui.errors import StoreError
from rlm_tui.store.migrations import migrate

RECOVER_HINT = "`rlm sessions recover` copies what can still be read into a new database"


def open_db(path: str | Path, *, migrate_to_latest: bool = True) -> sqlite_utils.Database:
    """The database, ready; ``StoreError`` (one line, naming the file) when it cannot be."""
    path = Path(path)
    _refuse_empty(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 30000")
        db = sqlite_utils.Database(conn)
        if migrate_to_latest:
            migrate(db)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(unusable(path, exc)) from None
    return db


def _refuse_empty(path: Path) -> None:
    """sqlite takes a 0-byte file for a new database and would write a fresh one over it. We never
    leave one behind (the schema is written as the file is made), so an empty file was emptied by
    something else (a full disk, a bad copy): say so instead of starting over in silence."""
    try:
        empty = path.is_file() and path.stat().st_size == 0
        wal = Path(f"{path}-wal")
        empty = empty and not (wal.is_file() and wal.stat().st_size > 0)
    except OSError:
        return  # open_db's own error says what is wrong with the path
    if empty:
        raise StoreError(
            f"the session database {path} is empty (0 bytes) and holds no sessions; "
            "delete it (or move it aside) to start a new one"
        )


def unusable(path: Path, exc: BaseException) -> str:
    """One line for a database that failed under us: what happened and what to do about it."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    code = getattr(exc, "sqlite_errorname", "")
    err = getattr(exc, "errno", None)
    if code in ("SQLITE_READONLY", "SQLITE_CANTOPEN") or err in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = f"check that {path.parent} can be written (or set RLM_HOME to a folder that can)"
    elif code == "SQLITE_FULL" or err in (errno.ENOSPC, errno.EDQUOT):
        advice = f"free some space on the disk that holds {path.parent}"
    elif code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        advice = f"it is damaged: {RECOVER_HINT}, or move it aside to start a new one"
    else:
        advice = "move it aside to start a new one"
    return f"the session database {path} cannot be used ({reason}); {advice}"
