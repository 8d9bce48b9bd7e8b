"""Recording never loses an answer, and a damaged database is named, never silently replaced:
text of any code points, a full disk, an empty, truncated or garbage file, and recovery of what
can still be read. Real SQLite files throughout."""

from __future__ import annotations

import hashlib
import random
import sqlite3

import pytest

from rlm_tui.errors import StoreError, UsageError
from rlm_tui.events import AnswerReady, TurnStarted
from rlm_tui.sandbox.snapshot import Snapshot
from rlm_tui.store.database import open_db
from rlm_tui.store.export import to_jsonl, to_markdown
from rlm_tui.store.recorder import Recorder
from rlm_tui.store.recover import LOST_PICKLE, recover
from rlm_tui.store.sessions import Store
from tests.store.test_store import record_turn

LONE = "\ud800"  # a lone surrogate: no UTF-8 encoder takes it
EVENTS_PER_TURN = 10  # what record_turn records (its token delta is not kept)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "sessions.db"


@pytest.fixture
def store(db_path):
    s = Store(db_path)
    yield s
    s.close()


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- text of any code points ---------------------------------------------------------------------


def test_an_answer_with_a_lone_surrogate_is_recorded_not_lost(store):
    recorder = Recorder(store.db)
    record_turn(recorder, "s1", 1, f"ask {LONE} me", f"the total is 42 {LONE}!\udfff end")
    assert recorder.failure is None
    history = store.history("s1")
    assert history[1]["content"] == "the total is 42 \ufffd!\ufffd end"  # replaced in derived rows
    assert history[0]["content"] == "ask \ufffd me"
    answers = [e.answer for e in store.events("s1") if isinstance(e, AnswerReady)]
    assert answers == [f"the total is 42 {LONE}!\udfff end"]  # the log keeps it exactly
    assert store.get("s1").title == "ask \ufffd me"
    assert "the total is 42" in to_markdown(store, "s1") and "the total is 42" in to_jsonl(store, "s1")
    assert [h.session_id for h in store.search("total")] == ["s1"]


def test_a_long_message_with_a_lone_surrogate_survives_the_snapshot(store):
    recorder = Recorder(store.db)
    record_turn(recorder, "s1", 1, "q", "a")
    recorder.save_snapshot("s1", 1, Snapshot({}, {}), [], ("text", f"long {LONE} message"))
    assert store.snapshot("s1").context == ("text", f"long {LONE} message")


# -- a full disk ---------------------------------------------------------------------------------


def test_a_full_database_is_a_remembered_failure_not_silence(store):
    recorder = Recorder(store.db)
    record_turn(recorder, "s1", 1, "q", "a")
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from here on
    big = "x" * 200_000
    with pytest.raises(StoreError) as raised:
        recorder(
            TurnStarted(
                session_id="s1",
                turn=2,
                node_id="t2",
                parent_id=None,
                user_message=big,
                root_model="r/m",
                sub_model="s/m",
            )
        )
    message = str(raised.value)
    assert str(store.path) in message and "full" in message and "free some space" in message
    assert recorder.failure == message
    assert store.turn_count("s1") == 1  # nothing half-written
    with pytest.raises(StoreError):
        recorder.save_snapshot("s1", 2, Snapshot({"v": b"y" * 300_000}, {}), [], None)


# -- damaged files -------------------------------------------------------------------------------


def test_an_empty_database_is_named_and_left_alone(db_path):
    db_path.write_bytes(b"")
    with pytest.raises(StoreError) as raised:
        Store(db_path)
    assert str(raised.value) == (
        f"the session database {db_path} is empty (0 bytes) and holds no sessions; "
        "delete it (or move it aside) to start a new one"
    )
    assert db_path.read_bytes() == b""  # not silently made a new database


def fill(path, sessions: int = 30, turns: int = 2) -> None:
    s = Store(path)
    recorder = Recorder(s.db)
    for n in range(sessions):
        sid = f"s{n:02d}"
        for turn in range(1, turns + 1):
            record_turn(recorder, sid, turn, f"question {n}.{turn} " + "q" * 1500, f"answer {n}.{turn}")
        recorder.save_snapshot(sid, turns, Snapshot({"v": bytes([n]) * 3000}, {}), [], None)
    s.rename("s00", "the first one")
    s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "header"])
def test_a_damaged_database_is_one_line_naming_it_and_what_to_do(db_path, damage):
    fill(db_path, sessions=3)
    data = db_path.read_bytes()
    if damage == "truncated":
        db_path.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        db_path.write_bytes(random.Random(1).randbytes(len(data)))
    else:
        db_path.write_bytes(b"\0" * 100 + data[100:])
    before = digest(db_path)
    with pytest.raises(StoreError) as raised, Store(db_path) as s:  # opening, or a first query, fails
        s.list()
    message = str(raised.value)
    assert "\n" not in message and str(db_path) in message
    assert "rlm sessions recover" in message
    assert digest(db_path) == before


def test_recover_copies_every_session_of_a_healthy_file(db_path, tmp_path):
    fill(db_path, sessions=5)
    with Store(db_path) as s:
        history = s.history("s03")
    before = digest(db_path)
    done = recover(db_path, tmp_path / "out.db")
    assert (done.sessions, done.events, done.unreadable) == (5, 5 * 2 * EVENTS_PER_TURN, 0)
    assert digest(db_path) == before
    with Store(tmp_path / "out.db") as out:
        assert out.history("s03") == history
        assert out.get("s00").title == "the first one"
        assert out.snapshot("s03").blobs == {"v": bytes([3]) * 3000}
        assert [h.session_id for h in out.search("answer")][:1]


def test_recover_saves_what_a_damaged_file_still_holds(db_path, tmp_path):
    fill(db_path, sessions=30)
    data = bytearray(db_path.read_bytes())
    page = 4096
    rng = random.Random(7)
    pages = len(data) // page
    for number in rng.sample(range(pages // 2, pages - 1), 4):  # four pages of the later half
        data[number * page : (number + 1) * page] = rng.randbytes(page)
    db_path.write_bytes(bytes(data))
    before = digest(db_path)
    done = recover(db_path, tmp_path / "out.db")
    assert digest(db_path) == before  # the damaged file is kept as it was
    assert 0 < done.sessions <= 30 and 0 < done.events < 30 * 2 * EVENTS_PER_TURN
    with Store(tmp_path / "out.db") as out:
        rows = out.list(limit=100)
        assert rows and all(r.turns >= 1 for r in rows)
        kept = rows[-1].id
        assert out.history(kept)[0]["content"].startswith("question")
        lost = out.conn.execute("SELECT COUNT(*) FROM snapshots WHERE kind = 'pickle'").fetchone()[0]
        marked = out.conn.execute("SELECT meta FROM snapshots WHERE kind = 'skipped'").fetchall()
        assert lost + len(marked) == done.snapshot_rows
        assert all(LOST_PICKLE in meta for (meta,) in marked)


def test_recover_of_garbage_reads_nothing_and_says_why(db_path, tmp_path):
    db_path.write_bytes(random.Random(3).randbytes(50_000))
    done = recover(db_path, tmp_path / "out.db")
    assert (done.sessions, done.events) == (0, 0) and "not a database" in (done.problem or "")


def test_recover_never_overwrites(db_path, tmp_path):
    fill(db_path, sessions=1)
    (tmp_path / "out.db").write_bytes(b"mine")
    with pytest.raises(UsageError, match="already exists"):
        recover(db_path, tmp_path / "out.db")
    assert (tmp_path / "out.db").read_bytes() == b"mine"


def test_the_recorder_names_a_read_only_database(db_path):
    fill(db_path, sessions=1)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    import sqlite_utils

    recorder = Recorder(sqlite_utils.Database(conn))
    with pytest.raises(StoreError) as raised:
        record_turn(recorder, "s9", 1, "q", "a")
    assert "can be written" in str(raised.value) and recorder.failure
    assert open_db(db_path).execute("SELECT COUNT(*) FROM sessions WHERE id = 's9'").fetchone()[0] == 0


def test_recover_reads_a_truncated_file_up_to_the_cut(db_path, tmp_path):
    fill(db_path, sessions=4)
    data = db_path.read_bytes()
    db_path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(StoreError):
        Store(db_path).list()
    done = recover(db_path, tmp_path / "out.db")
    assert done.sessions == 4 and 0 < done.events < 4 * 2 * EVENTS_PER_TURN and done.unreadable >= 1
    with Store(tmp_path / "out.db") as out:
        assert out.history("s00")[0]["content"].startswith("question 0.1")
