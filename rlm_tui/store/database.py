"""Opening the database: WAL, so a reader never blocks the recorder and a kill -9 loses at most
the event being written; ``synchronous=NORMAL``, which in WAL mode survives a killed process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from rlm_tui.errors import StoreError
from rlm_tui.store.migrations import migrate


def open_db(path: str | Path, *, migrate_to_latest: bool = True) -> sqlite_utils.Database:
    """The database, ready; ``StoreError`` (one line, naming the file) when it cannot be."""
    path = Path(path)
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


def unusable(path: Path, exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"the session database {path} cannot be used ({reason}); move it aside to start a new one"
