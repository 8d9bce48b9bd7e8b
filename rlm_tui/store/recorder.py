"""The recorder: an event-bus subscriber that commits every event (token deltas excepted) as it
happens, with the derived rows, in one small transaction. Snapshots are written after each turn.

Recording never loses an answer to its code points. The engine already makes its text safe
(``events.text``); should a lone surrogate still arrive, it is escaped in the JSON of the event
log, so it reads back exactly, and replaced by U+FFFD in the derived rows (``history``, search). A write that fails (a full
disk, a read-only folder) is remembered in ``failure`` so the turn can report it, not say "ok"."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils

from rlm_tui.errors import StoreError
from rlm_tui.events import Event, ModelDelta, event_from_dict
from rlm_tui.events.text import has_surrogates, utf8_safe
from rlm_tui.store import derive
from rlm_tui.store.database import unusable
from rlm_tui.store.migrations import transaction

COMMON = ("session_id", "turn", "node_id", "parent_id", "t", "type")
FILE_PREFIX = "file:"  # snapshot rows of files and host data must not collide with variable names
CONTEXT_ROW = "host:context"


def _dumps(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if storable(text):
        return text
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)  # \udxxx escapes


def storable(text: str) -> bool:
    """Whether SQLite (UTF-8) can hold the text as it is: no lone surrogates."""
    return not has_surrogates(text)


def _clean(value: Any) -> Any:
    """The value with every string made storable the way the engine does it (``events.text``)."""
    if isinstance(value, str):
        return utf8_safe(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class Recorder:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.conn = db.conn
        self.failure: str | None = None  # the first write that failed since the caller reset it

    def __call__(self, event: Event) -> None:
        if isinstance(event, ModelDelta):  # token deltas are not kept: the finished text is
            return
        self._guarded(self._record, event)

    def _guarded(self, write: Callable[..., None], *args: Any) -> None:
        """Run a write; a failure is remembered (the first one) and raised as one StoreError line."""
        try:
            write(*args)
        except (sqlite3.Error, OSError) as exc:
            message = unusable(self._path(), exc)
            if self.failure is None:
                self.failure = message
            raise StoreError(message) from None

    def _path(self) -> Path:
        try:
            return Path(self.conn.execute("PRAGMA database_list").fetchone()[2])
        except (sqlite3.Error, TypeError):
            return Path("sessions.db")

    def _record(self, event: Event) -> None:
        data = event.to_dict()
        body = {k: v for k, v in data.items() if k not in COMMON}
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
        derived = event
        if not storable(text):  # a lone surrogate: the log keeps it escaped, rows take U+FFFD
            text = _dumps(body)
            derived = event_from_dict(_clean(data))
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO events (session_id, turn, node_id, parent_id, type, t, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    derived.session_id,
                    derived.turn,
                    derived.node_id,
                    derived.parent_id,
                    derived.event_type,
                    derived.t,
                    text,
                ),
            )
            derive.apply(self.conn, derived)

    def register_session(self, session_id: str, workdir: str) -> None:
        """Note a session's folder before its first turn (the row is completed by TurnStarted)."""
        self._guarded(self._register, session_id, _clean(workdir))

    def _register(self, session_id: str, workdir: str) -> None:
        now = time.time()
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR IGNORE INTO sessions (id, title, created, updated, workdir) VALUES (?, '', ?, ?, ?)",
                (session_id, now, now, workdir),
            )
            self.conn.execute("UPDATE sessions SET workdir = ? WHERE id = ?", (workdir, session_id))

    def save_snapshot(self, *args: Any) -> None:
        """See ``_save_snapshot``; a failed write is remembered and raised as one line."""
        self._guarded(self._save_snapshot, *args)

    def _save_snapshot(
        self,
        session_id: str,
        turn: int,
        snapshot: Any,
        attachments: list[Any],
        context: tuple[str, str] | None,
    ) -> None:
        """One row per variable (a reference to its pickle, stored once by content), per skipped
        variable (the reason), per attached file (by reference: path, size, mtime, hash; in the
        order attached) and one for what ``context`` is (a file's name, or a long message)."""
        rows: list[tuple[str, str, bytes | None, str | None, str | None]] = []
        blobs: list[tuple[str, bytes]] = []
        for name, blob in snapshot.blobs.items():
            digest = hashlib.blake2b(blob, digest_size=20).hexdigest()
            blobs.append((digest, blob))
            rows.append((name, "pickle", None, None, digest))
        for name, reason in snapshot.skipped.items():
            rows.append((name, "skipped", None, _dumps({"reason": reason}), None))
        for order, att in enumerate(attachments):
            meta = {k: getattr(att, k) for k in ("path", "type", "size", "disk_bytes", "mtime", "digest")}
            rows.append((FILE_PREFIX + att.name, "file", None, _dumps({**meta, "order": order}), None))
        if context is not None:
            kind, value = context
            if kind == "file":
                rows.append((CONTEXT_ROW, "context_file", None, _dumps({"name": value}), None))
            else:
                rows.append((CONTEXT_ROW, "context_text", value.encode("utf-8", "surrogatepass"), None, None))
        with transaction(self.conn):
            self.conn.executemany("INSERT OR IGNORE INTO blobs (hash, data) VALUES (?, ?)", blobs)
            self.conn.execute("DELETE FROM snapshots WHERE session_id = ? AND turn = ?", (session_id, turn))
            self.conn.executemany(
                "INSERT INTO snapshots (session_id, turn, name, kind, blob, meta, blob_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(session_id, turn, *row) for row in rows],
            )
