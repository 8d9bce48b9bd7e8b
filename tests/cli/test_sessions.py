"""Recorded sessions end to end: resume across processes, kill -9, fork, export, the commands."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading

from tests.cli.conftest import RLM, ROOT_SYSTEM, repl
from tests.fakes.provider import FakeReply

TURN1 = "Count the vowels in 'recursive language model' and keep the count for later."
ANSWER1 = "Counted them and filed the number away."


def _sessions(rlm) -> list[dict]:
    done = rlm("sessions", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_three_turns_in_three_processes_share_memory_and_history(rlm_anthropic, script, provider):
    rlm = rlm_anthropic
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl(
                f"memory['vowels'] = sum(c in 'aeiou' for c in 'recursive language model')\nFINAL({ANSWER1!r})"
            ),
            repl("FINAL(f\"I stored {memory['vowels']}\")"),
            repl("FINAL(history[0]['content'] + ' / ' + history[1]['content'])"),
        ],
    )
    first, out1 = rlm.ask_json(TURN1)
    assert first.returncode == 0, first.stderr
    sid = out1["session_id"]
    seen_after_turn1 = len(provider.requests)
    _, out2 = rlm.ask_json("What number did you store?", "--session", sid)
    assert out2["answer"] == "I stored 10" and out2["turn"] == 2
    _, out3 = rlm.ask_json("What was my first message and your answer?", "--session", sid[:16])
    assert out3["answer"] == f"{TURN1} / {ANSWER1}" and out3["session_id"] == sid and out3["turn"] == 3
    for request in provider.requests[seen_after_turn1:]:
        assert TURN1 not in request.text() and ANSWER1 not in request.text()
    assert [s["turns"] for s in _sessions(rlm) if s["id"] == sid] == [3]


def test_kill_9_mid_turn_loses_nothing_committed_and_the_session_goes_on(rlm_anthropic, script, provider):
    rlm = rlm_anthropic
    arrived = threading.Event()
    count = {"n": 0}
    lock = threading.Lock()

    def slow_sub(request):
        with lock:
            count["n"] += 1
            if count["n"] >= 16:
                arrived.set()
        return FakeReply(text="ok", delay=30)

    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl("out = llm_query_batched([f'slow item {i}' for i in range(50)])\nFINAL(str(len(out)))"),
            repl("FINAL(f'history has {len(history)} entries; the last says: {history[-1][\"content\"]}')"),
        ],
    )
    script.on(contains="slow item", reply=slow_sub)
    proc = subprocess.Popen(
        [RLM, "ask", "fifty slow things"],
        env=rlm.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert arrived.wait(60), "the sub-calls never arrived"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    (session,) = _sessions(rlm)
    db = sqlite3.connect(rlm.home / "sessions.db")
    committed = db.execute(
        "SELECT type, node_id FROM events WHERE session_id = ? ORDER BY id", (session["id"],)
    ).fetchall()
    db.close()
    kinds = [kind for kind, _ in committed]
    assert kinds[:2] == ["TurnStarted", "ModelStarted"] and kinds.count("SubCallStarted") >= 16
    shown = rlm("sessions", "show", session["id"], "--events")
    assert shown.returncode == 0, shown.stderr
    listed = [line.split()[2:4] for line in shown.stdout.split("Events:\n")[1].splitlines()]
    assert listed == [[kind, node] for kind, node in committed]
    assert "interrupted" in shown.stdout
    again, out = rlm.ask_json("and now?", "--session", session["id"])
    assert again.returncode == 0, again.stderr
    assert out["turn"] == 2 and out["answer"].startswith(
        "history has 2 entries; the last says: [this turn was interrupted"
    )


def test_fork_at_turn_2_of_4_starts_from_turn_2s_repl(rlm_anthropic, script):
    rlm = rlm_anthropic
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            *(
                repl(f"x = {n}\nlog = globals().get('log', []) + [{n}]\nFINAL('x is now {n}')")
                for n in range(1, 5)
            ),
            repl("FINAL(f'x={x} log={log} turns={len(history) // 2}')"),
            repl("FINAL(f'x={x} log={log} turns={len(history) // 2}')"),
        ],
    )
    _, out = rlm.ask_json("set x to 1")
    sid = out["session_id"]
    for n in (2, 3, 4):
        rlm.ask_json(f"set x to {n}", "--session", sid)
    forked = rlm("sessions", "fork", sid, "--turn", "2")
    assert forked.returncode == 0, forked.stderr
    fork_id = forked.stdout.strip()
    _, in_fork = rlm.ask_json("what is x?", "--session", fork_id)
    assert in_fork["answer"] == "x=2 log=[1, 2] turns=2" and in_fork["turn"] == 3
    _, in_original = rlm.ask_json("what is x?", "--session", sid)
    assert in_original["answer"] == "x=4 log=[1, 2, 3, 4] turns=4" and in_original["turn"] == 5
    bad = rlm("sessions", "fork", sid, "--turn", "9")
    assert bad.returncode == 2 and "cannot fork at turn 9" in bad.stderr


def test_exports_search_rename_and_rm(rlm_anthropic, script, tmp_path):
    rlm = rlm_anthropic
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl("import math\nprint(math.pi)"),
            "FINAL(Pi is about 3.14159.)",
            repl("tau = 2 * 3.14159\nFINAL(f'Tau is {tau}')"),
        ],
    )
    _, out = rlm.ask_json("What is pi?")
    sid = out["session_id"]
    rlm.ask_json("And tau?", "--session", sid)
    target = tmp_path / "trace.jsonl"
    assert rlm("sessions", "export", sid, "--format", "jsonl", "-o", str(target)).returncode == 0
    records = [json.loads(line) for line in target.read_text().splitlines()]
    iterations = [r for r in records if r["type"] == "iteration"]
    db = sqlite3.connect(rlm.home / "sessions.db")
    root_calls = db.execute(
        "SELECT COUNT(*) FROM events WHERE session_id = ? AND type = 'ModelStarted' AND json_extract(data, '$.depth') = 0",
        (sid,),
    ).fetchone()[0]
    db.close()
    assert len(iterations) == root_calls == 3
    assert iterations[-1]["final_answer"] == "Tau is 6.28318"
    prompt = iterations[0]["prompt"]  # as the official rlm logs it: the system prompt first
    assert prompt[0]["role"] == "system" and ROOT_SYSTEM in prompt[0]["content"]
    assert prompt[1]["role"] == "user" and "What is pi?" in prompt[1]["content"]
    markdown = rlm("sessions", "export", sid).stdout
    for text in ("What is pi?", "Pi is about 3.14159.", "And tau?", "Tau is 6.28318"):
        assert text in markdown
    found = rlm("sessions", "search", "tau")
    assert sid in found.stdout and "code" in found.stdout
    assert rlm("sessions", "rename", sid, "Circle constants").returncode == 0
    assert _sessions(rlm)[0]["title"] == "Circle constants"
    refused = rlm("sessions", "rm", sid)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    kept = rlm("sessions", "rm", sid, input="n\n")
    assert kept.returncode == 0 and kept.stdout.strip() == "kept" and "Delete session" in kept.stderr
    assert rlm("sessions", "rm", sid, input="y\n").returncode == 0
    assert _sessions(rlm) == []
    assert not (rlm.home / "sessions" / sid).exists()
    unknown = rlm("sessions", "show", "no-such-session")
    assert unknown.returncode == 2 and unknown.stderr.startswith("rlm: no session 'no-such-session'")


def test_a_file_that_changed_since_is_reported_on_resume(rlm_anthropic, script, tmp_path):
    rlm = rlm_anthropic
    notes = tmp_path / "notes.txt"
    notes.write_text("version one\n")
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl("FINAL(context.strip())"),
            repl("FINAL(repr(files.get('notes.txt')))"),
            repl("FINAL(context.strip())"),
        ],
    )
    _, out = rlm.ask_json("read it", "--file", str(notes))
    assert out["answer"] == "version one"
    sid = out["session_id"]
    notes.write_text("version two, longer\n")
    done, out = rlm.ask_json("again", "--session", sid)
    assert "notes.txt" in done.stderr and "changed since it was attached" in done.stderr
    assert out["answer"] == "None"  # not silently reloaded
    db = sqlite3.connect(rlm.home / "sessions.db")
    notices = db.execute(
        "SELECT data FROM events WHERE type = 'Notice' AND session_id = ?", (sid,)
    ).fetchall()
    db.close()
    assert any("changed since it was attached" in json.loads(d)["message"] for (d,) in notices)
    _, out = rlm.ask_json("re-attach", "--session", sid, "--file", str(notes))
    assert out["answer"] == "version two, longer"


def test_resume_keeps_the_latest_input_as_context_and_counts_turns_right(rlm_anthropic, script, tmp_path):
    rlm = rlm_anthropic
    (tmp_path / "b.txt").write_text("B")
    (tmp_path / "a.txt").write_text("A")
    changing = tmp_path / "changing.txt"
    changing.write_text("v1")
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl("FINAL(context)"),
            repl("FINAL(context + ' ' + ','.join(files))"),
            repl("FINAL(str(len(history) // 2))"),
        ],
    )
    _, out = rlm.ask_json(
        "read", "--file", str(changing), "--file", str(tmp_path / "b.txt"), "--file", str(tmp_path / "a.txt")
    )
    assert out["answer"] == "A"
    sid = out["session_id"]
    changing.write_text("v2")
    for _ in range(2):  # resuming alone must not count as a turn
        assert rlm("sessions", "show", sid).returncode == 0
    _, out = rlm.ask_json("again", "--session", sid)
    assert out["answer"] == "A b.txt,a.txt" and out["turn"] == 2
    _, out = rlm.ask_json("how many turns?", "--session", sid)
    assert out["turn"] == 3 and out["answer"] == "2"
