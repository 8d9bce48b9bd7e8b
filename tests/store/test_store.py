"""The SQLite store: recording, derived tables, history, snapshots, fork, search, migrations."""

from __future__ import annotations

import json
import sqlite3

import pytest

from rlm_tui.errors import UnknownSession, UsageError
from rlm_tui.events import (
    AnswerReady,
    CellFinished,
    CellOutput,
    CellStarted,
    ModelDelta,
    ModelFinished,
    ModelStarted,
    SubCallFinished,
    SubCallStarted,
    TurnFinished,
    TurnStarted,
)
from rlm_tui.sandbox.snapshot import Snapshot
from rlm_tui.store import migrations
from rlm_tui.store.database import open_db
from rlm_tui.store.export import to_jsonl, to_markdown
from rlm_tui.store.recorder import Recorder
from rlm_tui.store.sessions import Store


def record_turn(
    recorder: Recorder,
    sid: str,
    turn: int,
    user: str,
    answer: str | None,
    code: str = "x = 1",
    status: str = "ok",
    finish: bool = True,
) -> None:
    base = {"session_id": sid, "turn": turn}
    t = f"t{turn}"
    recorder(
        TurnStarted(**base, node_id=t, parent_id=None, user_message=user, root_model="r/m", sub_model="s/m")
    )
    recorder(
        ModelStarted(
            **base,
            node_id=f"{t}.i1",
            parent_id=t,
            model="r/m",
            depth=0,
            iteration=1,
            messages=[{"role": "user", "content": user}],
            prompt_chars=100,
        )
    )
    recorder(ModelDelta(**base, node_id=f"{t}.i1", parent_id=t, text="tok"))
    recorder(
        ModelFinished(
            **base,
            node_id=f"{t}.i1",
            parent_id=t,
            model="r/m",
            text=f"```repl\n{code}\n```",
            usage={"input_tokens": 10, "output_tokens": 5},
            cost_usd=0.01,
            duration=0.5,
        )
    )
    cell = f"{t}.i1.c1"
    recorder(CellStarted(**base, node_id=cell, parent_id=f"{t}.i1", code=code, depth=0, iteration=1, index=1))
    recorder(
        SubCallStarted(
            **base, node_id=f"{cell}.s1", parent_id=cell, kind="llm", model="s/m", prompt="p", depth=1
        )
    )
    recorder(
        SubCallFinished(
            **base,
            node_id=f"{cell}.s1",
            parent_id=cell,
            kind="llm",
            model="s/m",
            response="r",
            usage={"input_tokens": 3, "output_tokens": 2},
            cost_usd=0.001,
            duration=0.1,
        )
    )
    recorder(CellOutput(**base, node_id=cell, parent_id=f"{t}.i1", stream="stdout", text="printed\n"))
    recorder(
        CellFinished(
            **base,
            node_id=cell,
            parent_id=f"{t}.i1",
            status="ok",
            output_for_model="printed\n",
            output_chars=8,
            dropped_chars=0,
            truncated=False,
            error=None,
            duration=0.2,
            final=answer,
        )
    )
    if not finish:
        return
    if answer is not None:
        recorder(AnswerReady(**base, node_id=t, parent_id=None, answer=answer))
    usage = {"input_tokens": 13, "output_tokens": 7, "cost_usd": 0.011, "cost_complete": True}
    recorder(
        TurnFinished(
            **base,
            node_id=t,
            parent_id=None,
            status=status,
            usage=usage,
            duration=1.0,
            error=None if answer else "boom",
        )
    )


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "sessions.db")
    yield s
    s.close()


def test_recording_derives_sessions_messages_and_cells(store):
    recorder = Recorder(store.db)
    record_turn(recorder, "s1", 1, "What is the airspeed of a swallow?\nSecond line", "About 11 m/s.")
    record_turn(recorder, "s1", 2, "And an African one?", None, status="failed")
    info = store.get("s1")
    assert info.title == "What is the airspeed of a swallow?"
    assert info.turns == 2 and info.input_tokens == 26 and info.output_tokens == 14
    assert info.cost_usd == pytest.approx(0.022) and info.root_model == "r/m"
    kinds = [r["type"] for r in store.event_rows("s1", turn=1)]
    assert "ModelDelta" not in kinds and kinds[0] == "TurnStarted" and kinds[-1] == "TurnFinished"
    assert store.history("s1") == [
        {"role": "user", "content": "What is the airspeed of a swallow?\nSecond line", "turn": 1},
        {"role": "assistant", "content": "About 11 m/s.", "turn": 1},
        {"role": "user", "content": "And an African one?", "turn": 2},
        {"role": "assistant", "content": "[this turn failed: boom]", "turn": 2},
    ]


def test_a_turn_cut_off_by_a_crash_is_marked_interrupted(store):
    recorder = Recorder(store.db)
    record_turn(recorder, "s1", 1, "first", "one")
    record_turn(recorder, "s1", 2, "second", None, finish=False)
    assert store.turn_count("s1") == 2
    assert store.history("s1")[-1]["content"].startswith("[this turn was interrupted")


def test_search_covers_messages_and_code_with_snippets(store):
    recorder = Recorder(store.db)
    record_turn(recorder, "s1", 1, "tell me about pelicans", "Pelicans are large water birds.")
    record_turn(recorder, "s2", 1, "unrelated", "fine", code="flamingo_count = count_birds(context)")
    hits = store.search("pelican")
    assert {(h.session_id, h.where) for h in hits} == {("s1", "user"), ("s1", "assistant")}
    assert any("[pelicans]" in h.snippet.lower() for h in hits)
    code = store.search("flamingo_count")
    assert [(h.session_id, h.where) for h in code] == [("s2", "code")]
    assert store.search('"unbalanced (quote') == []  # user text never breaks the FTS query


def test_snapshots_round_trip_with_files_order_and_context(store, tmp_path):
    from rlm_tui.engine.attachments import Attachment

    recorder = Recorder(store.db)
    record_turn(recorder, "s1", 1, "q", "a")
    files = [
        Attachment("b.txt", str(tmp_path / "b.txt"), "str", 5, 5, 1.5, "bb"),
        Attachment("a.txt", str(tmp_path / "a.txt"), "str", 5, 5, 1.5, "aa"),
    ]
    snap = Snapshot({"x": b"\x80pickled", "memory": b"mem"}, {"lock": "cannot be pickled (TypeError)"})
    recorder.save_snapshot("s1", 1, snap, files, ("file", "a.txt"))
    loaded = store.snapshot("s1")
    assert loaded.turn == 1 and loaded.blobs == {"x": b"\x80pickled", "memory": b"mem"}
    assert loaded.skipped == {"lock": "cannot be pickled (TypeError)"}
    assert [(f.name, f.digest) for f in loaded.files] == [
        ("b.txt", "bb"),
        ("a.txt", "aa"),
    ]  # attach order kept
    assert loaded.context == ("file", "a.txt")
    recorder.save_snapshot("s1", 2, snap, [], ("text", "a long message"))
    assert store.snapshot("s1").context == ("text", "a long message")


def test_unchanged_variables_are_stored_once(store):
    recorder = Recorder(store.db)
    big = Snapshot({"table": b"x" * 1_000_000, "n": b"1"})
    for turn in range(1, 6):
        record_turn(recorder, "s1", turn, f"q{turn}", "a")
        recorder.save_snapshot("s1", turn, big, [], None)
    stored = store.conn.execute("SELECT COUNT(*), SUM(LENGTH(data)) FROM blobs").fetchone()
    assert stored[0] == 2 and stored[1] < 1_100_000
    assert store.snapshot("s1", 3).blobs["table"] == b"x" * 1_000_000
    store.fork("s1", 3, "f1")
    store.delete("s1")
    assert store.snapshot("f1").blobs["table"] == b"x" * 1_000_000  # the fork still has it
    store.delete("f1")
    assert store.conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 0


def test_fork_copies_turns_up_to_n_and_leaves_the_original(store):
    recorder = Recorder(store.db)
    for turn in range(1, 5):
        record_turn(recorder, "s1", turn, f"question {turn}", f"answer {turn}")
        recorder.save_snapshot("s1", turn, Snapshot({"x": str(turn).encode()}), [], None)
    before = len(list(store.event_rows("s1")))
    store.fork("s1", 2, "f1")
    fork = store.get("f1")
    assert fork.parent_session == "s1" and fork.parent_turn == 2 and fork.turns == 2
    assert fork.title == "question 1 (fork at turn 2)"
    assert [m["content"] for m in store.history("f1")] == ["question 1", "answer 1", "question 2", "answer 2"]
    assert store.snapshot("f1").blobs == {"x": b"2"}
    assert store.get("s1").turns == 4 and len(list(store.event_rows("s1"))) == before
    assert {h.session_id for h in store.search("question")} == {"s1", "f1"}
    with pytest.raises(UsageError, match=r"turns 1\.\.4"):
        store.fork("s1", 9, "f2")
    store.fork("f1", 1, "f3")  # a fork of a fork says which turn once, not twice
    assert store.get("f3").title == "question 1 (fork at turn 1)"


def test_resolve_rename_delete(store):
    recorder = Recorder(store.db)
    record_turn(recorder, "20260101-aaaa", 1, "q", "a")
    record_turn(recorder, "20260101-aabb", 1, "q", "a")
    assert store.resolve("20260101-aaa") == "20260101-aaaa"
    with pytest.raises(UnknownSession, match="more than one"):
        store.resolve("20260101-aa")
    with pytest.raises(UnknownSession, match="no session"):
        store.resolve("nope")
    store.rename("20260101-aaaa", "  Renamed  ")
    assert store.get("20260101-aaaa").title == "Renamed"
    store.delete("20260101-aaaa")
    assert [s.id for s in store.list()] == ["20260101-aabb"]
    assert store.search("q") and all(h.session_id == "20260101-aabb" for h in store.search("q"))


def test_exports(store):
    recorder = Recorder(store.db)
    record_turn(recorder, "s1", 1, "first question", "first answer")
    assert "· 1 turn ·" in to_markdown(store, "s1")  # not "1 turns"
    record_turn(recorder, "s1", 2, "second question", "second answer")
    markdown = to_markdown(store, "s1")
    assert "· 2 turns ·" in markdown
    for text in ("first question", "first answer", "second question", "second answer", "```python"):
        assert text in markdown
    lines = [json.loads(line) for line in to_jsonl(store, "s1").splitlines()]
    assert [line["type"] for line in lines] == [
        "metadata",
        "run_context",
        "iteration",
        "run_context",
        "iteration",
    ]
    iteration = lines[2]
    assert iteration["response"].startswith("```repl") and iteration["final_answer"] == "first answer"
    block = iteration["code_blocks"][0]
    assert block["code"] == "x = 1" and block["result"]["stdout"] == "printed\n"
    assert block["result"]["rlm_calls"][0]["response"] == "r"
    assert (
        block["result"]["rlm_calls"][0]["usage_summary"]["model_usage_summaries"]["s/m"]["total_calls"] == 1
    )


def test_a_first_version_database_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    db = open_db(path, migrate_to_latest=False)
    migrations.migrate(db, target=1)
    conn = db.conn
    conn.execute(
        "INSERT INTO sessions (id, title, created, updated, turns) VALUES ('old', 'Old one', 1, 2, 1)"
    )
    conn.execute(
        "INSERT INTO messages (session_id, turn, role, content) VALUES ('old', 1, 'user', 'hello there')"
    )
    for kind, data in [
        ("CellStarted", {"code": "walrus_total = 7", "depth": 0}),
        ("CellFinished", {"status": "ok"}),
    ]:
        conn.execute(
            "INSERT INTO events (session_id, turn, node_id, parent_id, type, t, data) VALUES ('old', 1, 't1.i1.c1', 't1.i1', ?, 1, ?)",
            (kind, json.dumps(data)),
        )
    conn.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
    store = Store(path)
    assert migrations.version(store.db) == migrations.LATEST == 3
    assert [(h.session_id, h.where) for h in store.search("walrus_total")] == [("old", "code")]
    assert store.conn.execute("SELECT status FROM cells").fetchone()[0] == "ok"
    assert store.get("old").title == "Old one" and store.get("old").parent_session is None
    assert store.search("hello")[0].where == "user"
    store.close()
