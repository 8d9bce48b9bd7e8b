"""No session is lost: one writer per session across processes, a turn that cannot be recorded
fails instead of passing for "ok", a read-only or damaged database is one line (and can be
recovered), and model text with any code points or control sequences is stored and shown safely.
The real `rlm` command (or `rlm_tui.cli.main` in-process) against the loopback provider."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess

import pytest

from rlm_tui.cli.main import main
from tests.cli.conftest import RLM, ROOT_SYSTEM, repl
from tests.fakes.provider import FakeReply
from tests.store.test_attacks_store import fill

COUNT_RUNS = "runs = globals().get('runs', 0) + 1\nFINAL(f'run {runs}')"


def turns_recorded(home, session_id: str) -> list[int]:
    with sqlite3.connect(home / "sessions.db") as conn:
        rows = conn.execute(
            "SELECT turn FROM events WHERE session_id = ? AND type = 'TurnStarted' ORDER BY turn",
            (session_id,),
        )
        return [turn for (turn,) in rows]


def start_ask(rlm, session_id: str, wait: float) -> subprocess.Popen:
    env = rlm.env(RLM_SESSION_WAIT=str(wait))
    return subprocess.Popen(
        [RLM, "ask", "--session", session_id, "--json", "again"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("wait", [0, 60], ids=["fails-at-once", "waits-its-turn"])
def test_two_asks_on_one_session_never_make_two_turn_2s(rlm_anthropic, script, wait):
    from rlm_tui.store.recorder import Recorder
    from rlm_tui.store.sessions import Store
    from tests.store.test_store import record_turn

    rlm, sid = rlm_anthropic, "20261130-120000-abcdef"
    with Store(rlm.home / "sessions.db") as store:  # turn 1, recorded before
        record_turn(Recorder(store.db), sid, 1, "count", "counted")
    script.on(
        system_contains=ROOT_SYSTEM, reply=FakeReply(text=repl(COUNT_RUNS), delay=3.0 if wait == 0 else 1.5)
    )
    both = [start_ask(rlm, sid, wait), start_ask(rlm, sid, wait)]  # started together
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in both]
    answers = sorted(json.loads(out)["answer"] for code, out, _ in outcomes if code == 0)
    turns = sorted(json.loads(out)["turn"] for code, out, _ in outcomes if code == 0)
    if wait == 0:  # the second writer gives up at once: one clear line, exit 1
        assert answers == ["run 1"] and turns == [2], outcomes
        code, out, err = next(o for o in outcomes if o[0] != 0)
        assert code == 1 and out == ""
        assert err.strip().splitlines() == [err.strip()] and f"session {sid} is in use" in err
        assert turns_recorded(rlm.home, sid) == [1, 2]
    else:  # the second waits, then resumes from what the first recorded: it sees `runs` = 1
        assert answers == ["run 1", "run 2"] and turns == [2, 3], outcomes
        assert turns_recorded(rlm.home, sid) == [1, 2, 3]


def in_process_env(rlm, monkeypatch) -> None:
    for name, value in rlm.env().items():
        monkeypatch.setenv(name, value)


def test_a_turn_the_full_disk_cannot_record_exits_1_with_its_answer(
    rlm_anthropic, script, monkeypatch, capsys
):
    """sqlite's max_page_count makes the database full (no privileges needed to fill a disk)."""
    from rlm_tui.store import sessions

    opened = sessions.open_db

    def full_after_opening(path, **kwargs):
        db = opened(path, **kwargs)
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
        db.conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        return db

    monkeypatch.setattr(sessions, "open_db", full_after_opening)
    in_process_env(rlm_anthropic, monkeypatch)
    script.on(system_contains=ROOT_SYSTEM, reply="FINAL(forty-two)")
    code = main(["ask", "what is six times seven? " + "please " * 3000])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.strip() == "forty-two"  # the answer still reaches the user
    assert "was not recorded" in err and "full" in err and "Traceback" not in err


@pytest.fixture
def read_only_home(tmp_path):
    """An RLM_HOME that cannot be written, even by root: a read-only tmpfs (root) or a folder
    without write permission (anyone else). It holds a database recorded before."""
    home = tmp_path / "ro-home"
    home.mkdir()
    root = os.geteuid() == 0
    if root:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(home)], check=True)
    try:
        (home / "old").mkdir()
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
        else:
            home.chmod(0o555)
        yield home
    finally:
        if root:
            subprocess.run(["umount", str(home)], check=True)
        else:
            home.chmod(0o755)


@pytest.mark.parametrize("command", [["ask", "hi"], ["sessions", "list"]])
def test_a_read_only_rlm_home_is_one_line(rlm_anthropic, read_only_home, command):
    done = rlm_anthropic(*command, RLM_HOME=str(read_only_home))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert str(read_only_home) in done.stderr and "can be written" in done.stderr


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_database_is_one_line_for_every_command(rlm_anthropic, damage):
    rlm = rlm_anthropic
    db = rlm.home / "sessions.db"
    fill(db, sessions=3)  # recorded sessions, written in-process: the commands below are the test
    data = db.read_bytes()
    cut = {"garbage": os.urandom(len(data)), "truncated": data[: len(data) // 3], "empty": b""}
    db.write_bytes(cut[damage])
    before = db.read_bytes()
    for command in (["sessions", "list"], ["ask", "second"]):
        done = rlm(*command)
        assert done.returncode == 1, done.stderr
        line = done.stderr.strip()
        assert "\n" not in line and "Traceback" not in line and str(db) in line
        if damage == "empty":
            assert "is empty (0 bytes)" in line and "to start a new one" in line
        else:
            assert "rlm sessions recover" in line
    assert db.read_bytes() == before  # never replaced behind the user's back


def test_sessions_recover_saves_the_readable_sessions_and_keeps_the_damaged_file(rlm_anthropic):
    rlm = rlm_anthropic
    db = rlm.home / "sessions.db"
    fill(db, sessions=4)
    healthy = db.read_bytes()
    db.write_bytes(b"not sqlite at al" + healthy[16:])  # the header is gone: nothing can be read
    out = rlm.home / "saved.db"
    done = rlm("sessions", "recover", "--out", str(out))
    assert done.returncode == 1 and "nothing could be read" in done.stderr and not out.exists()
    damaged = healthy[: len(healthy) * 2 // 3]  # cut short, as by a full disk or a bad copy
    db.write_bytes(damaged)
    assert rlm("sessions", "list").returncode == 1
    done = rlm("sessions", "recover", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "saved 4 sessions and" in done.stdout and str(out) in done.stdout
    assert "damaged places could not be read" in done.stdout
    assert db.read_bytes() == damaged  # the damaged file is kept as it was
    fresh = rlm.home / "fresh"
    fresh.mkdir()
    out.rename(fresh / "sessions.db")  # what the printed instructions do
    shown = rlm("sessions", "show", "s00", RLM_HOME=str(fresh))
    assert shown.returncode == 0, shown.stderr
    assert "question 0.1" in shown.stdout


HOSTILE = (
    "pwned\x1b]52;c;cm0gLXJmIH4=\x07 \x1b]0;new title\x07\x1b[2J\x1b[H"
    "safe\rEVIL\x08\x08 \x9b31m c1 \x07bell \ud800 lone end"
)


def test_hostile_model_text_is_stored_whole_and_printed_visible(rlm_anthropic, script, tmp_path):
    rlm = rlm_anthropic
    script.on(system_contains=ROOT_SYSTEM, reply=repl(f"FINAL({HOSTILE!r})"))  # escapes in the code
    done = rlm("ask", "say it")
    assert done.returncode == 0, done.stderr
    printed = done.stdout
    assert "\x1b" not in printed and "\x07" not in printed and "\r" not in printed and "\x9b" not in printed
    assert "pwned␛]52;c;cm0gLXJmIH4=␇" in printed and "safe␍EVIL␈␈" in printed and "\\x9b31m" in printed
    assert "lone end" in printed
    sid = rlm("sessions", "list", "--json").stdout
    sid = json.loads(sid)[0]["id"]
    with sqlite3.connect(rlm.home / "sessions.db") as conn:
        content = conn.execute("SELECT content FROM messages WHERE role = 'assistant'").fetchone()[0]
    assert content == HOSTILE.replace("\ud800", "\ufffd")  # in the database, `history` and search
    shown = rlm("sessions", "show", sid)
    assert shown.returncode == 0 and "pwned␛]52" in shown.stdout and "\x1b" not in shown.stdout
    target = tmp_path / "out.md"
    assert rlm("sessions", "export", sid, "-o", str(target)).returncode == 0
    markdown = target.read_text(encoding="utf-8")
    assert "pwned␛]52" in markdown and "\x1b" not in markdown and "\x9b" not in markdown
    events = rlm("sessions", "export", sid, "--format", "events")
    assert events.returncode == 0 and "\x1b" not in events.stdout and "\x9b" not in events.stdout
    answers = [
        row["answer"] for row in map(json.loads, events.stdout.splitlines()) if row["type"] == "AnswerReady"
    ]
    assert answers == [HOSTILE.replace("\ud800", "\ufffd")]  # kept whole, escaped the JSON way
    jsonl = rlm("sessions", "export", sid, "--format", "jsonl")
    assert "\x1b" not in jsonl.stdout and "\x9b" not in jsonl.stdout
    assert json.loads(jsonl.stdout.split("\n")[0])["type"] == "metadata"
    found = rlm("sessions", "search", "pwned")
    assert "pwned" in found.stdout and "\x1b" not in found.stdout


def test_an_answer_with_a_lone_surrogate_is_in_the_database_show_and_export(rlm_anthropic, script, tmp_path):
    rlm = rlm_anthropic
    script.on(system_contains=ROOT_SYSTEM, reply="FINAL(the answer is 42 \ud800 indeed)")
    done = rlm("ask", "--json", "what is it?")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)["answer"]  # the surrogate, or U+FFFD if a layer replaced it
    assert answer in ("the answer is 42 \ud800 indeed", "the answer is 42 \ufffd indeed")
    sid = json.loads(done.stdout)["session_id"]
    with sqlite3.connect(rlm.home / "sessions.db") as conn:
        stored = conn.execute("SELECT content FROM messages WHERE role = 'assistant'").fetchall()
    assert stored == [("the answer is 42 \ufffd indeed",)]  # what `history` gives on resume
    shown = rlm("sessions", "show", sid)
    assert shown.returncode == 0 and "answer: the answer is 42 \ufffd indeed" in shown.stdout
    target = tmp_path / "out.md"
    assert rlm("sessions", "export", sid, "-o", str(target)).returncode == 0
    assert "the answer is 42 \ufffd indeed" in target.read_text(encoding="utf-8")
    events = rlm("sessions", "export", sid, "--format", "events").stdout
    answers = [row["answer"] for row in map(json.loads, events.splitlines()) if row["type"] == "AnswerReady"]
    assert answers == [answer]  # the event log keeps it exactly as the turn had it


def test_search_marks_no_brackets_of_its_own_in_a_pipe(rlm_anthropic):
    from rlm_tui.store.recorder import Recorder
    from rlm_tui.store.sessions import Store
    from tests.store.test_store import record_turn

    with Store(rlm_anthropic.home / "sessions.db") as store:
        record_turn(Recorder(store.db), "s1", 1, "is tau [twice pi] or not", "tau is 2π")
    found = rlm_anthropic("sessions", "search", "tau")
    assert found.returncode == 0, found.stderr
    assert "is tau [twice pi] or not" in found.stdout  # the text's own brackets, and no others
    assert "[tau]" not in found.stdout and "\ue000" not in found.stdout


def test_a_session_lock_names_its_holder_and_dies_with_it(tmp_path):
    """Another process holding the lock: a writer waits as long as it was told, names the holder,
    and gets the session once the holder is gone, even killed with SIGKILL (no stale lock)."""
    import asyncio
    import signal
    import sys

    from rlm_tui.errors import SessionBusy
    from rlm_tui.services.session_lock import SessionLock

    holder_code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from rlm_tui.services.session_lock import SessionLock\n"
        "lock = SessionLock(Path(sys.argv[1]), 'S1')\n"
        "asyncio.run(lock.acquire(0))\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"  # holds it until killed
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = SessionLock(tmp_path, "S1")
        with pytest.raises(SessionBusy) as raised:
            asyncio.run(lock.acquire(0.3))
        assert str(raised.value) == (
            f"session S1 is in use by process {holder.pid} (a turn, or the app has it open); "
            "waited 0.3 s: try again when it is done"
        )
        assert not lock.held
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        asyncio.run(lock.acquire(5))
        assert lock.held
        lock.release()
    finally:
        holder.kill()
        holder.wait(timeout=10)
