"""Keeping the derived tables (sessions, messages, cells) in step with the event log.

``apply`` is called for every event as it is recorded, in the same transaction; a forked
session's tables are built by replaying its copied events through it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from rlm_tui.events import (
    AnswerReady,
    CellFinished,
    CellStarted,
    Event,
    ModelFinished,
    SubCallFinished,
    TurnFinished,
    TurnStarted,
    counts_as_a_call,
    input_tokens,
    turn_outcome_text,
)

TITLE_CHARS = 80


def title_from(message: str) -> str:
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"


def apply(conn: sqlite3.Connection, event: Event) -> None:
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(conn, event)


def _turn_started(conn: sqlite3.Connection, e: TurnStarted) -> None:
    title = title_from(e.user_message)
    conn.execute(
        "INSERT OR IGNORE INTO sessions (id, title, created, updated) VALUES (?, ?, ?, ?)",
        (e.session_id, title, e.t, e.t),
    )
    conn.execute(
        "UPDATE sessions SET root_model = ?, sub_model = ?, updated = ?, "
        "title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
        (e.root_model, e.sub_model, e.t, title, e.session_id),
    )
    _message(conn, e, "user", e.user_message)
    conn.execute("UPDATE sessions SET turns = MAX(turns, ?) WHERE id = ?", (e.turn, e.session_id))


def _model_finished(conn: sqlite3.Connection, e: ModelFinished | SubCallFinished) -> None:
    # each model call as it ends: a turn cut short (killed, cancelled) still shows what it spent
    if not counts_as_a_call(e):
        return
    if e.usage or e.cost_usd is not None:
        _add_usage(conn, e.session_id, e.t, e.usage or {}, e.cost_usd)


def _answer_ready(conn: sqlite3.Connection, e: AnswerReady) -> None:
    _message(conn, e, "assistant", e.answer)


def _cell_started(conn: sqlite3.Connection, e: CellStarted) -> None:
    conn.execute(
        "INSERT INTO cells (session_id, turn, node_id, depth, code) VALUES (?, ?, ?, ?, ?)",
        (e.session_id, e.turn, e.node_id, e.depth, e.code),
    )


def _cell_finished(conn: sqlite3.Connection, e: CellFinished) -> None:
    conn.execute(
        "UPDATE cells SET status = ? WHERE session_id = ? AND node_id = ?",
        (e.status, e.session_id, e.node_id),
    )


def _turn_finished(conn: sqlite3.Connection, e: TurnFinished) -> None:
    if e.status in ("cancelled", "failed", "stuck"):  # no AnswerReady came: record what history shows
        _message(conn, e, "assistant", turn_outcome_text(e.status, None, e.error))
    conn.execute("UPDATE sessions SET updated = ? WHERE id = ?", (e.t, e.session_id))


def _message(conn: sqlite3.Connection, e: Event, role: str, content: str) -> None:
    conn.execute(
        "INSERT INTO messages (session_id, turn, role, content, t) VALUES (?, ?, ?, ?, ?)",
        (e.session_id, e.turn, role, content, e.t),
    )


_HANDLERS: dict[type[Event], Callable[[sqlite3.Connection, Any], None]] = {
    TurnStarted: _turn_started,
    ModelFinished: _model_finished,
    SubCallFinished: _model_finished,
    AnswerReady: _answer_ready,
    CellStarted: _cell_started,
    CellFinished: _cell_finished,
    TurnFinished: _turn_finished,
}


def _add_usage(
    conn: sqlite3.Connection, session_id: str, t: float, usage: Mapping[str, Any], cost: float | None
) -> None:
    tokens_in = input_tokens(usage)
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
