"""The schema, as a list of upgrade steps. ``PRAGMA user_version`` says how many have run.

Version 1 kept events, sessions, messages (with full-text search) and snapshots. Version 2 added
code cells with their own full-text index (backfilled from the events) and fork lineage.
Version 3 stores snapshot pickles once by content hash.
A step never changes after it ships: a new need is a new step.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlite_utils

from rlm_tui.errors import StoreError


def _v1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, turn INTEGER NOT NULL, node_id TEXT NOT NULL,
            parent_id TEXT, type TEXT NOT NULL, t REAL NOT NULL, data TEXT NOT NULL
        );
        CREATE INDEX events_by_session ON events(session_id, id);
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', root_model TEXT, sub_model TEXT,
            created REAL, updated REAL, turns INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0, workdir TEXT
        );
        CREATE INDEX sessions_by_updated ON sessions(updated);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, turn INTEGER NOT NULL, role TEXT NOT NULL,
            content TEXT NOT NULL, t REAL
        );
        CREATE INDEX messages_by_session ON messages(session_id, turn);
        CREATE TABLE snapshots (
            session_id TEXT NOT NULL, turn INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
            blob BLOB, meta TEXT, PRIMARY KEY (session_id, turn, name)
        );
        """
    )
    db["messages"].enable_fts(["content"], create_triggers=True, tokenize="porter")


def _v2(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE sessions ADD COLUMN parent_session TEXT;
        ALTER TABLE sessions ADD COLUMN parent_turn INTEGER;
        ALTER TABLE sessions ADD COLUMN cost_complete INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE sessions ADD COLUMN renamed INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE cells (
            id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, turn INTEGER NOT NULL, node_id TEXT NOT NULL,
            depth INTEGER NOT NULL DEFAULT 0, code TEXT NOT NULL, status TEXT
        );
        CREATE INDEX cells_by_node ON cells(session_id, node_id);
        """
    )
    db["cells"].enable_fts(["code"], create_triggers=True, tokenize="porter")
    # Backfill from the truth: every cell a version-1 database recorded is in its events.
    for row in db.execute(
        "SELECT session_id, turn, node_id, data FROM events WHERE type = 'CellStarted' ORDER BY id"
    ):
        data = json.loads(row[3])
        db.execute(
            "INSERT INTO cells (session_id, turn, node_id, depth, code) VALUES (?, ?, ?, ?, ?)",
            (row[0], row[1], row[2], data.get("depth", 0), data.get("code", "")),
        )
    for row in db.execute("SELECT session_id, node_id, data FROM events WHERE type = 'CellFinished'"):
        db.execute(
            "UPDATE cells SET status = ? WHERE session_id = ? AND node_id = ?",
            (json.loads(row[2]).get("status"), row[0], row[1]),
        )


def _v3(db: sqlite_utils.Database) -> None:
    """Snapshot blobs stored once by content: a turn that changes nothing adds no bytes."""
    import hashlib

    db.executescript(
        """
        CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
        ALTER TABLE snapshots ADD COLUMN blob_hash TEXT;
        """
    )
    rows = db.execute(
        "SELECT rowid, blob FROM snapshots WHERE kind = 'pickle' AND blob IS NOT NULL"
    ).fetchall()
    for rowid, blob in rows:
        digest = hashlib.blake2b(blob, digest_size=20).hexdigest()
        db.execute("INSERT OR IGNORE INTO blobs (hash, data) VALUES (?, ?)", (digest, blob))
        db.execute("UPDATE snapshots SET blob_hash = ?, blob = NULL WHERE rowid = ?", (digest, rowid))


STEPS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3]
LATEST = len(STEPS)


def version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database, target: int = LATEST) -> int:
    """Run the steps the database has not seen, each in its own transaction. Returns the version."""
    current = version(db)
    if current > LATEST:
        raise StoreError(f"this database has schema version {current}, newer than this rlm-tui ({LATEST})")
    for number in range(current + 1, target + 1):
        with transaction(db.conn):
            STEPS[number - 1](db)
            db.execute(f"PRAGMA user_version = {number}")
    return version(db)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection; DDL included, rolled back whole."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # sqlite may have rolled back already (a full disk, an I/O error)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
