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
