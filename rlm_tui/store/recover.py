"""Saving what can still be read from a damaged session database into a fresh one.

Like sqlite's ``.recover``, but knowing our schema: each table is read row by row in rowid
order, and a row (or a run of rows on a damaged page) that cannot be read is stepped over
instead of ending the copy. The event log is the truth: its rows are copied and the derived
tables (messages, cells, search) rebuilt from them; the sessions' own rows (titles, lineage,
folders, totals) are then copied over what was derived, where they could be read; snapshots and
their pickles are copied so sessions can still be resumed, and a variable whose pickle was lost
is marked as not saved (resume names it) rather than failing the resume.

The damaged file is only read, from a copy (with its WAL): it is left exactly as it was.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rlm_tui.errors import StoreError, UsageError
from rlm_tui.events import EVENT_TYPES, event_from_dict
from rlm_tui.store import derive
from rlm_tui.store.database import open_db
from rlm_tui.store.migrations import transaction

GIVE_UP_AFTER = 10_000  # unreadable rowids in a row past the last known one: the table ends here
LOST_PICKLE = "its saved value was lost when the session database was damaged"


@dataclass(frozen=True)
class Recovered:
    source: Path
    target: Path
    sessions: int
    events: int
    snapshot_rows: int
    unreadable: int  # damaged places (a row, or a run of rows) that could not be read and were skipped
    problem: str | None = None  # why nothing at all could be read, when that is so


def recover(source: Path, target: Path) -> Recovered:
    """Copy what can be read from ``source`` into a new database at ``target`` (which must not
    exist). ``source`` is not changed."""
    if not source.is_file():
        raise UsageError(f"no session database at {source}")
    if target.exists():
        raise UsageError(f"{target} already exists; give another --out")
    with tempfile.TemporaryDirectory(prefix="rlm-recover-") as scratch:
        copy = Path(scratch) / source.name
        for suffix in ("", "-wal"):  # the WAL holds the newest events; -shm is rebuilt
            if Path(f"{source}{suffix}").is_file():
                shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
        reader = _Reader(copy)
        try:
            return _copy(reader, source, target)
        finally:
            reader.close()


class _Reader:
    """The damaged database, read as far as it goes."""

    def __init__(self, path: Path) -> None:
        self.unreadable = 0
        self.problem: str | None = None
        try:
            self.conn: sqlite3.Connection | None = sqlite3.connect(path, isolation_level=None)
            self.conn.execute("PRAGMA query_only = 1")
            # a damaged index or trigger entry must not stop the tables from being read
            self.conn.execute("PRAGMA writable_schema = 1")
            self.tables = {
                name: [c[1] for c in self.conn.execute(f"PRAGMA table_info({name})")]
                for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.Error as exc:
            self.conn, self.tables, self.problem = None, {}, str(exc)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def rows(self, table: str, wanted: list[str]) -> Iterator[dict]:
        """The table's readable rows, in rowid order, with the ``wanted`` columns it has."""
        if self.conn is None or table not in self.tables:
            return
        columns = [c for c in wanted if c in self.tables[table]]
        select = f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid > ? ORDER BY rowid"
        top = self._max_rowid(table)
        last, misses = 0, 0
        while True:
            try:
                for row in self.conn.execute(select, (last,)):
                    if row[0] <= last:  # a damaged page can lead back: never read a row twice
                        raise sqlite3.DatabaseError("rowids out of order")
                    last, misses = row[0], 0
                    yield dict(zip(columns, row[1:], strict=True))
                return
            except sqlite3.Error:
                self.unreadable += misses == 0  # one more damaged stretch (counted once)
                last, misses = last + 1, misses + 1  # step over the row the read broke on
                if (top is None or last >= top) and misses >= GIVE_UP_AFTER:
                    return

    def _max_rowid(self, table: str) -> int | None:
        try:
            return self.conn.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0]  # type: ignore[union-attr]
        except sqlite3.Error:
            return None


def _copy(reader: _Reader, source: Path, target: Path) -> Recovered:
    if reader.conn is None:
        return Recovered(source, target, 0, 0, 0, 0, problem=reader.problem)
    db = open_db(target)
    conn = db.conn
    columns = {
        name: [c[1] for c in conn.execute(f"PRAGMA table_info({name})")]
        for name in ("sessions", "events", "snapshots", "blobs")
    }
    sessions: set[str] = set()
    events = snapshot_rows = 0
    try:
        with transaction(conn):
            for row in reader.rows("events", columns["events"]):
                event = _event(row)
                if event is None:
                    reader.unreadable += 1
                    continue
                conn.execute("SAVEPOINT one_event")  # a row the schema refuses is skipped alone
                try:
                    _insert(conn, "events", row)
                    derive.apply(conn, event)  # type: ignore[arg-type]
                except sqlite3.IntegrityError:
                    conn.execute("ROLLBACK TO one_event")
                    reader.unreadable += 1
                    continue
                finally:
                    conn.execute("RELEASE one_event")
                sessions.add(row["session_id"])
                events += 1
            for row in reader.rows("sessions", columns["sessions"]):
                if row.get("id") is None:
                    continue
                _insert(conn, "sessions", row, replace=True)
                sessions.add(row["id"])
            for row in reader.rows("blobs", columns["blobs"]):
                _insert(conn, "blobs", row, replace=True)
            for row in reader.rows("snapshots", columns["snapshots"]):
                _insert(conn, "snapshots", row, replace=True)
                snapshot_rows += 1
            conn.execute(
                "UPDATE snapshots SET kind = 'skipped', meta = ?, blob_hash = NULL WHERE kind = 'pickle' "
                "AND blob IS NULL AND (blob_hash IS NULL OR blob_hash NOT IN (SELECT hash FROM blobs))",
                (json.dumps({"reason": LOST_PICKLE}),),
            )
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"could not write the recovered database {target} ({exc})") from None
    conn.close()
    return Recovered(source, target, len(sessions), events, snapshot_rows, reader.unreadable)


def _event(row: dict) -> object | None:
    """The event a row holds, or None when the row is damaged past reading."""
    try:
        data = json.loads(row["data"])
        if row["type"] not in EVENT_TYPES or not isinstance(data, dict):
            return None
        data.update(
            session_id=row["session_id"],
            turn=row["turn"],
            node_id=row["node_id"],
            parent_id=row["parent_id"],
            type=row["type"],
            t=row["t"],
        )
        return event_from_dict(data)
    except (TypeError, ValueError, KeyError):
        return None


def _insert(conn: sqlite3.Connection, table: str, row: dict, *, replace: bool = False) -> None:
    names = list(row)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    conn.execute(
        f"{verb} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [row[n] for n in names],
    )
