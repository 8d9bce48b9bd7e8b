"""Reading and managing recorded sessions: list, show, search, history and snapshots for resume,
fork, rename, delete."""

from __future__ import annotations

import functools
import inspect
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from rlm_tui.errors import StoreError, UnknownSession, UsageError
from rlm_tui.events import EVENT_TYPES, Event, event_from_dict, turn_outcome_text
from rlm_tui.store import derive
from rlm_tui.store.database import open_db, unusable
from rlm_tui.store.migrations import transaction
from rlm_tui.store.recorder import FILE_PREFIX

DB_FILE = "sessions.db"


_FORK_SUFFIX = re.compile(r"( \(fork at turn \d+\))+$")  # a fork of a fork is named once


@dataclass(frozen=True)
class SessionRow:
    id: str
    title: str
    root_model: str | None
    sub_model: str | None
    created: float
    updated: float
    turns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cost_complete: bool
    parent_session: str | None
    parent_turn: int | None
    workdir: str | None

    def cost_text(self) -> str:
        if not self.cost_complete and not self.cost_usd:
            return "unknown"  # no call had a known price: not "$0"
        return f"${self.cost_usd:.4f}" + ("" if self.cost_complete else "+?")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FileRef:
    name: str
    path: str
    disk_bytes: int
    mtime: float
    digest: str


@dataclass(frozen=True)
class StoredSnapshot:
    turn: int
    blobs: dict[str, bytes]
    skipped: dict[str, str]
    files: list[FileRef]  # in the order they were attached
    context: tuple[str, str] | None  # ("file", name) | ("text", message)


@dataclass(frozen=True)
class SearchHit:
    session_id: str
    title: str
    turn: int
    where: str  # user | assistant | code
    snippet: str


_COLUMNS = (
    "id, title, root_model, sub_model, created, updated, turns, input_tokens, output_tokens, cost_usd, "
    "cost_complete, parent_session, parent_turn, workdir"
)


def _row(values: tuple) -> SessionRow:
    (sid, title, root, sub, created, updated, turns, tin, tout, cost, complete, parent, pturn, workdir) = (
        values
    )
    return SessionRow(
        sid,
        title or "",
        root,
        sub,
        created or 0.0,
        updated or 0.0,
        turns or 0,
        tin or 0,
        tout or 0,
        cost or 0.0,
        bool(complete),
        parent,
        pturn,
        workdir,
    )


def _store_errors(cls: type) -> type:
    """Every public method of the store raises StoreError (one line, naming the file) for a
    database that fails under it (damaged, locked past its timeout, on a full disk)."""

    def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def rows(self: Store, *args: Any, **kwargs: Any) -> Iterator[Any]:
                try:
                    yield from fn(self, *args, **kwargs)
                except sqlite3.Error as exc:
                    raise StoreError(unusable(self.path, exc)) from None

            return rows

        @functools.wraps(fn)
        def call(self: Store, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise StoreError(unusable(self.path, exc)) from None

        return call

    for name, fn in list(vars(cls).items()):
        if inspect.isfunction(fn) and not name.startswith("_"):
            setattr(cls, name, guard(fn))
    return cls


@_store_errors
class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db: sqlite_utils.Database = open_db(self.path)
        self.conn = self.db.conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- finding sessions --------------------------------------------------------------------

    def resolve(self, id_or_prefix: str) -> str:
        """A session id from an id or a unique prefix of one."""
        exact = self.conn.execute("SELECT id FROM sessions WHERE id = ?", (id_or_prefix,)).fetchone()
        if exact:
            return exact[0]
        like = id_or_prefix.replace("%", "").replace("_", r"\_") + "%"
        found = [
            r[0]
            for r in self.conn.execute("SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (like,))
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            raise UnknownSession(f"no session {id_or_prefix!r} (rlm sessions list shows them)")
        raise UnknownSession(f"{id_or_prefix!r} matches more than one session; give more of the id")

    def get(self, session_id: str) -> SessionRow:
        values = self.conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if values is None:
            raise UnknownSession(f"no session {session_id!r}")
        return _row(values)

    def list(self, limit: int = 50, offset: int = 0) -> list[SessionRow]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE turns > 0 OR title != '' ORDER BY updated DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [_row(r) for r in rows]

    def latest(self) -> SessionRow | None:
        rows = self.list(limit=1)
        return rows[0] if rows else None

    def search(self, text: str, limit: int = 50, marks: tuple[str, str] = ("[", "]")) -> list[SearchHit]:
        """Full-text search over messages and code cells, newest first, with snippets (each match
        between ``marks``).

        Newest first (not best match first) lets FTS5 stop after ``limit`` hits instead of
        ranking every match: a common word over 10,000 sessions stays fast.
        """
        query = self.db.quote_fts(text)
        if not query.strip('" '):
            return []
        hits: list[tuple[float, int, SearchHit]] = []
        sources = (
            ("messages", "messages_fts", "m.role", "m.t"),
            ("cells", "cells_fts", "'code'", "NULL"),
        )
        for table, fts, kind, when in sources:
            sql = f"""
                SELECT m.session_id, s.title, m.turn, {kind}, h.snip, COALESCE({when}, s.updated), h.rowid
                FROM (SELECT rowid, snippet({fts}, 0, :on, :off, '…', 12) AS snip FROM {fts}
                      WHERE {fts} MATCH :q ORDER BY rowid DESC LIMIT :limit) AS h
                JOIN {table} m ON m.rowid = h.rowid JOIN sessions s ON s.id = m.session_id
            """
            for sid, title, turn, where, snip, when_t, rowid in self.conn.execute(
                sql, {"q": query, "limit": limit, "on": marks[0], "off": marks[1]}
            ):
                hits.append((when_t or 0.0, rowid, SearchHit(sid, title or "", turn, where, snip)))
        hits.sort(key=lambda h: (h[0], h[1]), reverse=True)
        return [hit for _, _, hit in hits[:limit]]

    # -- what a session holds ----------------------------------------------------------------

    def event_rows(self, session_id: str, turn: int | None = None) -> Iterator[dict[str, Any]]:
        sql = "SELECT session_id, turn, node_id, parent_id, type, t, data FROM events WHERE session_id = ?"
        args: tuple = (session_id,)
        if turn is not None:
            sql += " AND turn = ?"
            args += (turn,)
        for sid, t_turn, node, parent, kind, t, data in self.conn.execute(sql + " ORDER BY id", args):
            row = json.loads(data)
            row.update(session_id=sid, turn=t_turn, node_id=node, parent_id=parent, type=kind, t=t)
            yield row

    def events(self, session_id: str, turn: int | None = None) -> list[Event]:
        """The session's events; kinds this build does not know (a newer one wrote them) are left out."""
        return [
            event_from_dict(row) for row in self.event_rows(session_id, turn) if row["type"] in EVENT_TYPES
        ]

    def turn_count(self, session_id: str) -> int:
        row = self.conn.execute(
            "SELECT MAX(turn) FROM events WHERE session_id = ? AND type = 'TurnStarted'", (session_id,)
        ).fetchone()
        return row[0] or 0

    def history(self, session_id: str) -> list[dict[str, Any]]:
        """``history`` as the REPL had it after the last recorded turn. A turn the app never
        finished (it was killed) is marked as interrupted."""
        by_turn: dict[int, dict[str, str]] = {}
        for turn, role, content in self.conn.execute(
            "SELECT turn, role, content FROM messages WHERE session_id = ? ORDER BY turn, id", (session_id,)
        ):
            by_turn.setdefault(turn, {}).setdefault(role, content)
        history = []
        for turn in sorted(by_turn):
            roles = by_turn[turn]
            history.append({"role": "user", "content": roles.get("user", ""), "turn": turn})
            answer = roles.get("assistant", turn_outcome_text("interrupted", None))
            history.append({"role": "assistant", "content": answer, "turn": turn})
        return history

    def snapshot(self, session_id: str, turn: int | None = None) -> StoredSnapshot | None:
        """The snapshot taken after ``turn`` (default: the latest one)."""
        if turn is None:
            row = self.conn.execute(
                "SELECT MAX(turn) FROM snapshots WHERE session_id = ?", (session_id,)
            ).fetchone()
            turn = row[0]
            if turn is None:
                return None
        blobs: dict[str, bytes] = {}
        skipped: dict[str, str] = {}
        files: list[tuple[int, FileRef]] = []
        context: tuple[str, str] | None = None
        rows = self.conn.execute(
            "SELECT s.name, s.kind, s.blob, s.meta, b.data FROM snapshots s LEFT JOIN blobs b ON b.hash = s.blob_hash "
            "WHERE s.session_id = ? AND s.turn = ?",
            (session_id, turn),
        ).fetchall()
        if not rows:
            return None
        for name, kind, blob, meta, data in rows:
            if kind == "pickle":
                blobs[name] = data if data is not None else blob
            elif kind == "skipped":
                skipped[name] = json.loads(meta)["reason"]
            elif kind == "file":
                m = json.loads(meta)
                ref = FileRef(
                    name.removeprefix(FILE_PREFIX),
                    m["path"],
                    int(m.get("disk_bytes", 0)),
                    float(m.get("mtime", 0.0)),
                    m.get("digest", ""),
                )
                files.append((int(m.get("order", len(files))), ref))
            elif kind == "context_file":
                context = ("file", json.loads(meta)["name"])
            elif kind == "context_text":
                context = ("text", blob.decode("utf-8", "surrogatepass"))
        return StoredSnapshot(
            turn, blobs, skipped, [ref for _, ref in sorted(files, key=lambda f: f[0])], context
        )

    # -- changing sessions -------------------------------------------------------------------

    def rename(self, session_id: str, title: str) -> None:
        title = title.strip()
        if not title:
            raise UsageError("a title cannot be empty")
        with transaction(self.conn):
            self.conn.execute("UPDATE sessions SET title = ?, renamed = 1 WHERE id = ?", (title, session_id))

    def delete(self, session_id: str) -> None:
        with transaction(self.conn):
            for table in ("events", "messages", "cells", "snapshots"):
                self.conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            self.conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            # pickles no other session's snapshot refers to (a fork shares its parent's)
            self.conn.execute(
                "DELETE FROM blobs WHERE hash NOT IN (SELECT blob_hash FROM snapshots WHERE blob_hash IS NOT NULL)"
            )

    def fork(self, session_id: str, turn: int, new_id: str) -> str:
        """A new session holding turns 1..turn of this one (events, messages, snapshots); its REPL
        starts from the snapshot taken after ``turn``. The original is left as it was."""
        source = self.get(session_id)
        if not 1 <= turn <= source.turns:
            raise UsageError(f"session {session_id} has turns 1..{source.turns}; cannot fork at turn {turn}")
        if self.snapshot(session_id, turn) is None:
            raise UsageError(f"session {session_id} has no REPL snapshot after turn {turn}")
        now = time.time()
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO sessions (id, title, root_model, sub_model, created, updated, parent_session, parent_turn) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new_id,
                    f"{_FORK_SUFFIX.sub('', source.title)} (fork at turn {turn})",
                    source.root_model,
                    source.sub_model,
                    now,
                    now,
                    session_id,
                    turn,
                ),
            )
            copied = self.conn.execute(
                "SELECT turn, node_id, parent_id, type, t, data FROM events WHERE session_id = ? AND turn <= ? ORDER BY id",
                (session_id, turn),
            ).fetchall()
            for t_turn, node, parent, kind, t, data in copied:
                self.conn.execute(
                    "INSERT INTO events (session_id, turn, node_id, parent_id, type, t, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (new_id, t_turn, node, parent, kind, t, data),
                )
                row = {**json.loads(data), "session_id": new_id, "turn": t_turn, "node_id": node}
                derive.apply(self.conn, event_from_dict({**row, "parent_id": parent, "type": kind, "t": t}))
            self.conn.execute(
                "INSERT INTO snapshots (session_id, turn, name, kind, blob, meta, blob_hash) "
                "SELECT ?, turn, name, kind, blob, meta, blob_hash FROM snapshots WHERE session_id = ? AND turn <= ?",
                (new_id, session_id, turn),
            )
            self.conn.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, new_id))
        return new_id
