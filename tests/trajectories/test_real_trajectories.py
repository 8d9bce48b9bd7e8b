"""Real model-written trajectories (../shared/fixtures/trajectories) against our worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlm_tui.sandbox.worker.execute import compile_cell
from rlm_tui.trajectories import fast_rlm, official_rlm
from rlm_tui.trajectories.replay import replay

RLM = str(Path(sys.executable).with_name("rlm"))


def _cells(root: Path):
    for path in sorted((root / "fast-rlm").glob("*.jsonl")):
        for run in fast_rlm.load(path).runs.values():
            for step in run.cells:
                recorded_syntax_error = "SyntaxError" in (step.output or "")
                yield f"{path.name}:{run.depth}:{step.step}", step.code, recorded_syntax_error
    for path in sorted((root / "rlm").glob("*.jsonl")):
        log = official_rlm.load(path)
        for number, code in enumerate(log.code_cells()):
            yield f"{path.name}:{number}", code, False


def test_every_cell_compiles_in_cell_mode_as_it_did_when_recorded(trajectories):
    cells = list(_cells(trajectories))
    assert len(cells) > 250
    mismatched = []
    for where, code, recorded_syntax_error in cells:
        try:
            compile_cell(code)
            ours = False
        except SyntaxError:
            ours = True
        if ours != recorded_syntax_error:
            mismatched.append(where)
    assert mismatched == []
    # The cells that failed when recorded were broken model code (unterminated strings), not ours to fix.
    assert sum(1 for *_, bad in cells if bad) == 6


def test_replay_command_matches_every_cell_of_the_r_count_log(trajectories):
    log = next((trajectories / "fast-rlm").glob("r_count_*.jsonl"))
    done = subprocess.run([RLM, "replay", str(log)], capture_output=True, text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stderr
    assert lines[-1] == "cells matched: 4/4, mismatched: 0, unverifiable: 0"
    assert lines[-2] == "sub-calls answered from the log: 1; matching no recorded prompt: 0"
    assert [line.split()[3] for line in lines[1:-2]] == ["match"] * 4


# Measured: (matched, mismatched, unverifiable), the steps of the matched cells, sub-calls whose
# prompt matched no recorded one, sub-calls answered from the log. Most cells of the long-context
# logs differ because the log keeps only the first and last 500 characters of `context`.
REPLAYED = {
    "lex_fridman_2026-02-16T12-04-04-095Z.jsonl": ((5, 12, 0), [0, 1, 2, 3, 16], 0, 0),
    "longbench_hotpot_idx100_2026-02-15T22-12-31-422Z.jsonl": ((2, 4, 0), [0, 5], 0, 0),
    "longbench_hotpot_idx140_2026-02-15T22-22-02-941Z.jsonl": ((7, 14, 0), [0, 3, 4, 11, 13, 19, 20], 1, 0),
    "longbench_trec_idx100_2026-02-15T22-06-14-116Z.jsonl": ((1, 3, 0), [0], 0, 0),
    "oolong_real_toy_dnd_idx1_2026-02-15T19-17-50-789Z.jsonl": ((1, 7, 0), [0], 0, 0),
    "oolong_synth_idx100_2026-02-15T21-05-04-144Z.jsonl": ((2, 3, 0), [0, 5], 0, 0),
    "r_count_2026-02-22T14-56-34-865Z.jsonl": ((4, 0, 0), [0, 1, 2, 3], 0, 1),
}


def test_every_fast_rlm_fixture_log_has_measured_replay_counts(trajectories):
    assert sorted(p.name for p in (trajectories / "fast-rlm").glob("*.jsonl")) == sorted(REPLAYED)


@pytest.mark.parametrize("name", sorted(REPLAYED))
async def test_replaying_each_fixture_log_gives_its_measured_verdicts(trajectories, name, tmp_path):
    log = trajectories / "fast-rlm" / name
    report = await replay(log, workdir=tmp_path)
    counts, matched_steps, unmatched_calls, answered = REPLAYED[name]
    assert (report.matched, report.mismatched, report.unverifiable) == counts
    assert [c.step for c in report.checks if c.matched] == matched_steps
    assert (len(report.unmatched_calls), report.answered_calls) == (unmatched_calls, answered)
    assert [c.step for c in report.checks] == [s.step for s in fast_rlm.load(log).root.cells]
    assert report.ok == (counts == (len(report.checks), 0, 0))
    assert (
        report.lines()[-1]
        == f"cells matched: {counts[0]}/{sum(counts)}, mismatched: {counts[1]}, unverifiable: {counts[2]}"
    )


async def test_a_recorded_error_matches_only_the_same_exception_at_the_same_line(trajectories, tmp_path):
    # lex_fridman cell 3 raised _csv.Error at line 7 in Pyodide, and does in our worker; cell 12
    # raised KeyError: '16' there, but our worker (with only the head and tail of the context)
    # raises KeyError: '13', which used to count as a match because the exception type is the same
    report = await replay(
        trajectories / "fast-rlm" / "lex_fridman_2026-02-16T12-04-04-095Z.jsonl", workdir=tmp_path
    )
    by_step = {c.step: c for c in report.checks}
    assert (by_step[3].verdict, by_step[3].detail) == ("matched", "raised _csv.Error at line 7")
    assert (by_step[12].verdict, by_step[12].detail) == (
        "mismatched",
        "recorded \"KeyError: '16'\", ours \"KeyError: '13'\"",
    )


async def test_a_sub_call_built_from_the_unrecorded_middle_of_the_context_is_reported(trajectories, tmp_path):
    # hotpot_idx140 cell 12 asks a sub-agent about context[85000:105000]: here that is spaces, so the
    # prompt is not the recorded one, and the recorded answer is no longer handed to it
    log = trajectories / "fast-rlm" / "longbench_hotpot_idx140_2026-02-15T22-22-02-941Z.jsonl"
    report = await replay(log, workdir=tmp_path)
    [call] = report.unmatched_calls
    assert (call.step, call.fn, len(call.prompt)) == (12, "llm_query", 20383)
    check = next(c for c in report.checks if c.step == 12)
    assert check.verdict == "mismatched" and check.detail.startswith(
        "1 sub-call prompt(s) match no recorded one; 1 sub-agent(s) the recorded cell started were never asked"
    )


def test_replay_rejects_what_is_not_a_fast_rlm_log(tmp_path, trajectories):
    official = trajectories / "rlm" / "trace-log-example.jsonl"
    done = subprocess.run([RLM, "replay", str(official)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "is an official rlm log" in done.stderr and "rlm view" in done.stderr


def test_replay_rejects_what_is_not_a_log(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello\n")
    done = subprocess.run([RLM, "replay", str(bogus)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "replay takes a fast-rlm JSONL log" in done.stderr and "Traceback" not in done.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    done = subprocess.run([RLM, "replay", str(empty)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "is empty" in done.stderr
    missing = subprocess.run(
        [RLM, "replay", str(tmp_path / "nope.jsonl")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "no such log file" in missing.stderr


def test_unframing_and_context_rebuilding():
    assert fast_rlm.unframe("[FULL OUTPUT SHOWN]... a\nb\n") == ("full", "a\nb\n", None)
    assert fast_rlm.unframe("[TRUNCATED: Last 5 chars shown].. hello") == ("tail", "hello", 5)
    assert fast_rlm.unframe("[EMPTY OUTPUT]") == ("empty", "", None)
    short = "Context type:  <class 'str'>\nContext length: 11\nContext:  hello world"
    assert fast_rlm.context_from_first_output(short) == "hello world"
    head, tail = "h" * 500, "t" * 500
    long = (
        "Context type:  <class 'str'>\nContext length: 5000\nFirst 500 characters of str(context):  "
        + head
        + "\n---\nLast 500 characters of str(context):  "
        + tail
    )
    rebuilt = fast_rlm.context_from_first_output(long)
    assert len(rebuilt) == 5000 and rebuilt.startswith(head) and rebuilt.endswith(tail)
