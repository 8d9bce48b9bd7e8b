"""Opening the database: WAL, so a reader never blocks the recorder and a kill -9 loses at most
the event being written; ``synchronous=NORMAL``, which in WAL mode survives a killed process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from rlm_tui.store.migrations import migrate


def open_db(path: str | Path, *, migrate_to_latest: bool = True) -> sqlite_utils.Database:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 30000")
    db = sqlite_utils.Database(conn)
    if migrate_to_latest:
        migrate(db)
    return db
