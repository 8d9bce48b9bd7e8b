"""Keeping the derived tables (sessions, messages, cells) in step with the event log.

``apply`` is called for every event as it is recorded, in the same transaction; a forked
session's tables are built by replaying its copied events through it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from rlm_tui.events import turn_outcome_text

TITLE_CHARS = 80


def title_from(message: str) -> str:
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"


def apply(
    conn: sqlite3.Connection,
    kind: str,
    session_id: str,
    turn: int,
    node_id: str,
    t: float,
    data: dict[str, Any],
) -> None:
    if kind == "TurnStarted":
        conn.execute(
            "INSERT OR IGNORE INTO sessions (id, title, created, updated) VALUES (?, ?, ?, ?)",
            (session_id, title_from(data.get("user_message", "")), t, t),
        )
        conn.execute(
            "UPDATE sessions SET root_model = ?, sub_model = ?, updated = ?, "
            "title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
            (
                data.get("root_model"),
                data.get("sub_model"),
                t,
                title_from(data.get("user_message", "")),
                session_id,
            ),
        )
        conn.execute(
            "INSERT INTO messages (session_id, turn, role, content, t) VALUES (?, ?, 'user', ?, ?)",
            (session_id, turn, data.get("user_message", ""), t),
        )
        conn.execute("UPDATE sessions SET turns = MAX(turns, ?) WHERE id = ?", (turn, session_id))
    elif kind == "ModelFinished" or (
        kind == "SubCallFinished" and data.get("kind") == "llm" and not data.get("cached")
    ):
        # each model call as it ends: a turn cut short (killed, cancelled) still shows what it spent
        if data.get("usage") or data.get("cost_usd") is not None:
            _add_usage(conn, session_id, t, data.get("usage") or {}, data.get("cost_usd"))
    elif kind == "AnswerReady":
        conn.execute(
            "INSERT INTO messages (session_id, turn, role, content, t) VALUES (?, ?, 'assistant', ?, ?)",
            (session_id, turn, data.get("answer", ""), t),
        )
    elif kind == "CellStarted":
        conn.execute(
            "INSERT INTO cells (session_id, turn, node_id, depth, code) VALUES (?, ?, ?, ?, ?)",
            (session_id, turn, node_id, data.get("depth", 0), data.get("code", "")),
        )
    elif kind == "CellFinished":
        conn.execute(
            "UPDATE cells SET status = ? WHERE session_id = ? AND node_id = ?",
            (data.get("status"), session_id, node_id),
        )
    elif kind == "TurnFinished":
        status = data.get("status", "ok")
        if status in ("cancelled", "failed"):  # no AnswerReady came: record what history shows
            conn.execute(
                "INSERT INTO messages (session_id, turn, role, content, t) VALUES (?, ?, 'assistant', ?, ?)",
                (session_id, turn, turn_outcome_text(status, None, data.get("error")), t),
            )
        conn.execute("UPDATE sessions SET updated = ? WHERE id = ?", (t, session_id))


def _add_usage(
    conn: sqlite3.Connection, session_id: str, t: float, usage: dict[str, Any], cost: float | None
) -> None:
    tokens_in = sum(
        int(usage.get(k) or 0) for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens")
    )
    conn.execute(
        "UPDATE sessions SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, "
        "cost_usd = cost_usd + ?, cost_complete = cost_complete * ?, updated = ? WHERE id = ?",
        (
            tokens_in,
            int(usage.get("output_tokens") or 0),
            float(cost or 0.0),
            0 if cost is None else 1,
            t,
            session_id,
        ),
    )
