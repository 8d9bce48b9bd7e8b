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
    assert lines[-1] == "cells matched: 4/4"
    assert [line.split()[-1] for line in lines[1:-1]] == ["match"] * 4


@pytest.mark.parametrize("name", ["longbench_trec_idx100", "oolong_synth_idx100", "longbench_hotpot_idx100"])
async def test_replay_runs_other_logs_to_the_end_and_reports_each_cell(trajectories, name, tmp_path):
    log = next((trajectories / "fast-rlm").glob(f"{name}_*.jsonl"))
    report = await replay(log, workdir=tmp_path)
    recorded = [s for s in fast_rlm.load(log).root.cells]
    assert len(report.checks) == len(recorded)
    assert report.checks[0].matched  # the automatic first cell: context rebuilt from its output
    assert report.lines()[-1] == f"cells matched: {report.matched}/{len(recorded)}"


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
