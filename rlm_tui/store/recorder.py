"""The recorder: an event-bus subscriber that commits every event (token deltas excepted) as it
happens, with the derived rows, in one small transaction. Snapshots are written after each turn."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import sqlite_utils

from rlm_tui.events import Event, ModelDelta
from rlm_tui.store import derive
from rlm_tui.store.migrations import transaction

COMMON = ("session_id", "turn", "node_id", "parent_id", "t", "type")
FILE_PREFIX = "file:"  # snapshot rows of files and host data must not collide with variable names
CONTEXT_ROW = "host:context"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class Recorder:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.conn = db.conn

    def __call__(self, event: Event) -> None:
        if isinstance(event, ModelDelta):  # token deltas are not kept: the finished text is
            return
        data = event.to_dict()
        body = {k: v for k, v in data.items() if k not in COMMON}
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO events (session_id, turn, node_id, parent_id, type, t, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.session_id,
                    event.turn,
                    event.node_id,
                    event.parent_id,
                    event.event_type,
                    event.t,
                    _dumps(body),
                ),
            )
            derive.apply(self.conn, event)

    def register_session(self, session_id: str, workdir: str) -> None:
        """Note a session's folder before its first turn (the row is completed by TurnStarted)."""
        now = time.time()
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR IGNORE INTO sessions (id, title, created, updated, workdir) VALUES (?, '', ?, ?, ?)",
                (session_id, now, now, workdir),
            )
            self.conn.execute("UPDATE sessions SET workdir = ? WHERE id = ?", (workdir, session_id))

    def save_snapshot(
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
                rows.append((CONTEXT_ROW, "context_text", value.encode(), None, None))
        with transaction(self.conn):
            self.conn.executemany("INSERT OR IGNORE INTO blobs (hash, data) VALUES (?, ?)", blobs)
            self.conn.execute("DELETE FROM snapshots WHERE session_id = ? AND turn = ?", (session_id, turn))
            self.conn.executemany(
                "INSERT INTO snapshots (session_id, turn, name, kind, blob, meta, blob_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(session_id, turn, *row) for row in rows],
            )
