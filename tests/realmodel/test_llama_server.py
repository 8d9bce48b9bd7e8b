"""The real-model tier: `rlm ask` and the app against llama.cpp's server with SmolLM2-135M.

The model is weak: it rambles, overflows and writes broken code. These tests assert what the app
must do with any model (no traceback, a truthful status and exit code, the turn recorded), never
the quality of an answer.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.real_model import LlamaServer
from tests.ui.terminal import RLM, Terminal

pytestmark = pytest.mark.real_model
MODEL = "openai/smollm2"


def environment(home: Path, server: LlamaServer, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "RLM_HOME": str(home / "rlm"),
        "OPENAI_API_KEY": "sk-local",  # llama.cpp takes any key; litellm wants one for openai/*
        "RLM_MODEL": MODEL,
        "RLM_API_BASE": server.base,
        "RLM_MAX_OUTPUT_TOKENS": "200",  # the model rambles: keep each reply short
        "RLM_MAX_ITERATIONS": "3",
        "RLM_MAX_RETRIES": "1",
        "RLM_RETRY_BASE_DELAY": "0.05",
        "LANG": "C.UTF-8",
    }
    env.update(extra)
    return env


def ask(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [RLM, "ask", *args, "--json"], capture_output=True, text=True, env=env, timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    payload = json.loads(done.stdout)
    return done, payload


def assert_truthful(done: subprocess.CompletedProcess, payload: dict) -> None:
    """The exit code and the status say the same thing, whatever the model did."""
    if payload["answer"] is not None:
        assert done.returncode == 0, done.stderr
        assert payload["status"] in ("ok", "stopped"), payload
    else:
        assert done.returncode == 1, done.stderr
        assert payload["status"] not in ("ok",), payload
        assert payload["error"], payload


def recorded_turns(home: Path) -> list[tuple[str, int, str]]:
    with sqlite3.connect(home / "rlm" / "sessions.db") as db:
        return db.execute(
            "SELECT session_id, turn, json_extract(data, '$.status') FROM events "
            "WHERE type = 'TurnFinished' ORDER BY id"
        ).fetchall()


def test_a_plain_question(tmp_path, llama):
    done, payload = ask(environment(tmp_path, llama), "What is 2+2?")

    assert_truthful(done, payload)
    assert payload["usage"]["calls_by_depth"].get("0", 0) >= 1
    assert payload["usage"]["estimated"] is True  # llama.cpp reports no usage in a stream
    assert recorded_turns(tmp_path) == [(payload["session_id"], 1, payload["status"])]


def test_a_question_about_an_attached_file(tmp_path, llama):
    notes = tmp_path / "notes.txt"
    notes.write_text("".join(f"line {n}: the code word is heron\n" for n in range(1, 41)))

    done, payload = ask(
        environment(tmp_path, llama), "What is the code word in the file?", "--file", str(notes)
    )

    assert_truthful(done, payload)
    assert recorded_turns(tmp_path) == [(payload["session_id"], 1, payload["status"])]
    show = subprocess.run(
        [RLM, "sessions", "show", payload["session_id"]], capture_output=True, text=True,
        env=environment(tmp_path, llama), timeout=60,
    )  # fmt: skip
    assert show.returncode == 0 and "Traceback" not in show.stderr, show.stderr
    assert "What is the code word in the file?" in show.stdout


def turn_ended(screen: str) -> bool:
    status = next((line for line in screen.splitlines() if "turn 1:" in line), "")
    return bool(status) and "running" not in status


def test_a_turn_in_the_app_in_a_real_terminal(tmp_path, llama):
    env = environment(tmp_path, llama, TERM="xterm-256color")
    terminal = Terminal.spawn([], env, timeout=60)
    try:
        terminal.wait_for("Ask anything")
        terminal.child.send("What is the capital of France?\r")
        # The status bar shows the turn with its duration once it has ended, whatever its outcome.
        terminal.wait_until(turn_ended, "the first turn's end in the status bar", timeout=240)
        assert terminal.quit() == 0
    finally:
        terminal.child.close()
    assert b"Traceback" not in terminal.after_exit()
    turns = recorded_turns(tmp_path)
    assert len(turns) == 1 and turns[0][1] == 1 and turns[0][2] in ("ok", "stopped", "failed", "cancelled")


def test_a_prompt_over_the_window_fails_in_one_line_naming_it(tmp_path, llama_servers):
    small = llama_servers(512)  # the rules alone are longer
    started = time.monotonic()
    done, payload = ask(environment(tmp_path, small), "What is 2+2?")

    assert done.returncode == 1 and payload["status"] == "failed"
    assert "512 tokens" in payload["error"] and "context window" in payload["error"]
    failure = [line for line in done.stderr.splitlines() if line.startswith("rlm: the turn failed")]
    assert len(failure) == 1 and "512 tokens" in failure[0]
    assert time.monotonic() - started < 60  # no long backoff against a local server
    assert recorded_turns(tmp_path) == [(payload["session_id"], 1, "failed")]


def test_an_answer_cut_at_a_small_output_limit_says_so(tmp_path, llama):
    env = environment(tmp_path, llama, RLM_MAX_OUTPUT_TOKENS="8", RLM_MAX_ITERATIONS="3")
    done, payload = ask(env, "Tell me a long story about a fox.")

    assert_truthful(done, payload)
    stops = recorded_stop_reasons(tmp_path)
    assert stops and all(reason == "length" for reason in stops)  # every reply was cut: recorded so
    assert payload["stopped_by"] == "output_limit" or "cut off" in (payload["answer"] or "")


def test_a_turn_that_outgrows_a_small_window_is_fitted_to_it(tmp_path, llama_servers):
    server = llama_servers(2048)
    window = 1400  # told smaller than the server's, so a few replies outgrow it
    env = environment(tmp_path, server, RLM_CONTEXT_WINDOW=str(window), RLM_MAX_ITERATIONS="6")
    done, payload = ask(env, "Print the first five lines of the file.")

    assert_truthful(done, payload)
    assert "context window" not in (payload["error"] or "")
    calls = recorded_prompt_sizes(tmp_path, server)
    assert calls and all(prompt + reply <= window + 32 for prompt, reply in calls)  # template slack
    if len(calls) >= 3:  # the prompt grew past the window: older iterations were compacted
        assert recorded_count(tmp_path, "Compacted") >= 1


def recorded_stop_reasons(home: Path) -> list[str]:
    with sqlite3.connect(home / "rlm" / "sessions.db") as db:
        rows = db.execute(
            "SELECT json_extract(data, '$.stop_reason') FROM events WHERE type = 'ModelFinished' ORDER BY id"
        ).fetchall()
    return [r[0] for r in rows]


def recorded_count(home: Path, kind: str) -> int:
    with sqlite3.connect(home / "rlm" / "sessions.db") as db:
        return db.execute("SELECT count(*) FROM events WHERE type = ?", (kind,)).fetchone()[0]


def recorded_prompt_sizes(home: Path, server: LlamaServer) -> list[tuple[int, int]]:
    """Each root call's prompt in the server's own tokens (its tokenizer), as the recorded events
    rebuild it, with the reply's tokens it was given room for."""
    from rlm_tui.events import event_from_dict
    from rlm_tui.events.fold import fold_turns

    with sqlite3.connect(home / "rlm" / "sessions.db") as db:
        rows = db.execute(
            "SELECT session_id, turn, node_id, parent_id, type, t, data FROM events ORDER BY id"
        )
        events = [
            event_from_dict({**json.loads(data), "session_id": sid, "turn": turn, "node_id": node,
                             "parent_id": parent, "type": kind, "t": t})
            for sid, turn, node, parent, kind, t, data in rows
        ]  # fmt: skip
    sizes = []
    for turn in fold_turns(events):
        for iteration in turn.iterations:
            text = "\n".join(m["content"] for m in iteration.prompt)
            prompt = server.count_tokens(text)
            reply = server.count_tokens(iteration.response) if iteration.response else 0
            sizes.append((prompt, reply))
    return sizes


def test_the_app_says_a_prompt_is_over_the_window_and_stays_open(tmp_path, llama_servers):
    small = llama_servers(512)
    terminal = Terminal.spawn([], environment(tmp_path, small, TERM="xterm-256color"), timeout=60)
    try:
        terminal.wait_for("Ask anything")
        terminal.child.send("What is 2+2?\r")
        terminal.wait_until(turn_ended, "the turn's end in the status bar", timeout=120)
        terminal.wait_for("512 tokens", "RLM · failed", timeout=30)  # the answer says why, in one place
        terminal.child.send("hello again\r")  # the app is still there and takes the next message
        terminal.wait_until(lambda text: "turn 2:" in text, "a second turn", timeout=120)
        assert terminal.quit() == 0
    finally:
        terminal.child.close()
    assert b"Traceback" not in terminal.after_exit()
