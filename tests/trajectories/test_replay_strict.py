"""`rlm replay` is strict: small fast-rlm logs written here, replayed in a real worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlm_tui.trajectories import fast_rlm
from rlm_tui.trajectories.fast_rlm import same_value
from rlm_tui.trajectories.replay import (
    MATCHED,
    MISMATCHED,
    UNFINISHED_CHILD,
    UNMATCHED_PROMPT,
    UNVERIFIABLE,
    replay,
)
from tests.trajectories.fastlog import FastLog, first_output, full, one_cell_log, pyodide_error, truncated

RLM = str(Path(sys.executable).with_name("rlm"))

CELLS = [
    (
        "rows = [1, 2, 3]\nprint('rows:', len(rows))\nfor r in rows:\n    print(r * 10)",
        full("rows: 3\n10\n20\n30\n"),
    ),
    ("total = sum(rows)", full("")),
    ("print('before')\nx = {'a': 1}\nx['b']", full("before\n" + pyodide_error("KeyError: 'b'", 3))),
]


def _log(path: Path, cells=CELLS, final_code="FINAL({'total': total, 'rows': rows})", final=None) -> Path:
    log = FastLog()
    log.start("root", "the task")
    for step, (code, output) in enumerate(cells, start=1):
        log.cell("root", step, code, output)
    log.final("root", len(cells) + 1, final_code, {"total": 6, "rows": [1, 2, 3]} if final is None else final)
    return log.write(path)


def _verdicts(report) -> list[str]:
    return [c.verdict for c in report.checks]


async def test_a_log_whose_every_cell_matches_replays_clean(tmp_path):
    report = await replay(_log(tmp_path / "clean.jsonl"), workdir=tmp_path)
    assert _verdicts(report) == [MATCHED] * 5
    assert report.ok and (report.matched, report.mismatched, report.unverifiable) == (5, 0, 0)
    assert report.checks[3].detail == "raised KeyError at line 3"
    assert report.lines()[-1] == "cells matched: 5/5, mismatched: 0, unverifiable: 0"


@pytest.mark.parametrize(
    ("changed", "detail"),
    [
        ((0, full("rows: 3\n10\n20\n31\n")), "first difference at char 15: ours '0\\n' vs recorded '1\\n'"),
        ((0, full("rows: 3\n10\n20\n")), "first difference at char 14: ours '30\\n' vs recorded ''"),
        ((1, full("6\n")), "first difference at char 0: ours '' vs recorded '6\\n'"),
        ((1, full(pyodide_error("NameError: name 'rows' is not defined", 1))), "ours did not"),
        ((0, full("rows: 3\n10\n20\n30\n" + pyodide_error("ValueError: bad", 2))), "ours did not"),
        ((2, full("before\n")), "ours raised KeyError: 'b'; the recorded cell did not"),
        (
            (2, full("before\n" + pyodide_error("KeyError: 'c'", 3))),
            "recorded \"KeyError: 'c'\", ours \"KeyError: 'b'\"",
        ),
        (
            (2, full("before\n" + pyodide_error("KeyError: 'b'", 2))),
            "ours raised at line 3, the recorded cell at line 2",
        ),
        (
            (2, full(pyodide_error("KeyError: 'b'", 3))),
            "first difference at char 0: ours 'before\\n' vs recorded ''",
        ),
    ],
)
async def test_a_changed_output_or_error_is_a_mismatch(tmp_path, changed, detail):
    index, output = changed
    cells = list(CELLS)
    cells[index] = (cells[index][0], output)
    report = await replay(_log(tmp_path / "changed.jsonl", cells), workdir=tmp_path)
    check = report.checks[index + 1]
    assert check.verdict == MISMATCHED and detail in check.detail
    assert not report.ok and report.mismatched == 1
    assert any(
        line.startswith(f"cell {index + 1:>3} output DIFF") and detail in line for line in report.lines()
    )


def test_the_command_exits_0_only_when_every_cell_matched(tmp_path):
    clean = subprocess.run(
        [RLM, "replay", str(_log(tmp_path / "a.jsonl"))], capture_output=True, text=True, timeout=60
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    cells = [CELLS[0], (CELLS[1][0], full("6\n")), CELLS[2]]
    changed = subprocess.run(
        [RLM, "replay", str(_log(tmp_path / "b.jsonl", cells))], capture_output=True, text=True, timeout=60
    )
    assert changed.returncode == 1
    assert "cell   2 output DIFF" in changed.stdout
    assert changed.stdout.strip().splitlines()[-1] == "cells matched: 4/5, mismatched: 1, unverifiable: 0"
    unverifiable = one_cell_log(tmp_path / "c.jsonl", "print('x' * 50)", truncated("x" * 50 + "\n", 10))
    done = subprocess.run([RLM, "replay", str(unverifiable)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "cell   1 output unverifiable" in done.stdout


@pytest.mark.parametrize(
    ("code", "recorded", "verdict", "detail"),
    [
        ("FINAL(True)", 1, MISMATCHED, "ours bool true vs recorded number 1"),
        ("FINAL(1)", True, MISMATCHED, "ours int 1 vs recorded boolean true"),
        ("FINAL(1)", "1", MISMATCHED, 'ours int 1 vs recorded string "1"'),
        ("FINAL('1')", 1, MISMATCHED, 'ours str "1" vs recorded number 1'),
        ("FINAL({'a': [1, 2]})", {"a": [1, "2"]}, MISMATCHED, 'recorded object {"a": [1, "2"]}'),
        ("FINAL({'a': [True]})", {"a": [1]}, MISMATCHED, "ours dict"),
        ("FINAL('Polk County')", "Polk county", MISMATCHED, "first difference at char 5"),
        ("FINAL({1})", "{1}", MISMATCHED, 'ours set {1} vs recorded string "{1}"'),
        ("FINAL(True)", True, MATCHED, ""),
        ("FINAL(1.0)", 1, MATCHED, ""),  # one number type in JavaScript: the log cannot tell them apart
        ("x = {'a': (1, '2'), 'b': None}\nFINAL_VAR('x')", {"a": [1, "2"], "b": None}, MATCHED, ""),
        ("answer['content'] = 'done'\nanswer['ready'] = True", "done", MATCHED, ""),
    ],
)
async def test_final_values_compare_by_type(tmp_path, code, recorded, verdict, detail):
    report = await replay(_log(tmp_path / "final.jsonl", CELLS[:1], code, recorded), workdir=tmp_path)
    check = report.checks[-1]
    assert (check.kind, check.verdict) == ("final", verdict)
    assert detail in check.detail


@pytest.mark.parametrize("recorded", [{}, [1, 2]])
async def test_a_final_value_that_is_not_json_cannot_be_checked_against_a_recorded_object(tmp_path, recorded):
    # Pyodide hands a set to JavaScript as a proxy: what the log then holds says nothing about it
    report = await replay(
        _log(tmp_path / "set.jsonl", CELLS[:1], "FINAL({1, 2})", recorded), workdir=tmp_path
    )
    assert report.checks[-1].verdict == UNVERIFIABLE
    assert report.checks[-1].detail == "ours is a set, which a fast-rlm log cannot hold as it is"


def test_same_value_keeps_json_types_apart():
    assert same_value(1, 1.0) and same_value({"a": [1, None]}, {"a": [1, None]})
    assert not same_value(True, 1) and not same_value(1, True) and not same_value(0, False)
    assert not same_value("1", 1) and not same_value(None, "") and not same_value([1], [1, 1])
    assert not same_value({"a": 1}, {"a": 1, "b": 2}) and not same_value({"a": [True]}, {"a": [1]})


async def test_a_cell_that_calls_final_where_the_recorded_one_went_on_is_a_mismatch(tmp_path):
    log = one_cell_log(tmp_path / "early.jsonl", "print('hi')\nFINAL('early')", full("hi\n"))
    report = await replay(log, workdir=tmp_path)
    assert report.checks[1].verdict == MISMATCHED
    assert report.checks[1].detail == "ours called FINAL; the recorded cell did not end the run"


def _log_with_child(path: Path, code: str, output: str, child_prompt: str, answer: str = "Paris") -> Path:
    log = FastLog()
    log.start("root", "the task")
    log.start("child", child_prompt, depth=1, parent="root")
    log.final("child", 1, f"FINAL({answer!r})", answer, depth=1, parent="root")
    log.cell("root", 1, code, output)
    return log.write(path)


CATCHING = """
try:
    reply = llm_query({prompt!r})
except Exception as exc:
    reply = f"{{type(exc).__name__}}: {{exc}}"
print(reply)
"""


async def test_a_sub_call_gets_the_answer_recorded_for_its_prompt(tmp_path):
    code = CATCHING.format(prompt="What is the capital of France?")
    log = _log_with_child(tmp_path / "asked.jsonl", code, full("Paris\n"), "What is the capital of France?")
    report = await replay(log, workdir=tmp_path)
    assert _verdicts(report) == [MATCHED, MATCHED] and report.ok
    assert (report.answered_calls, report.unmatched_calls) == (1, [])


async def test_a_sub_call_whose_prompt_matches_no_recorded_one_fails_and_is_reported(tmp_path):
    code = CATCHING.format(prompt="What is the capital of Spain?")
    # the recorded output is what our cell prints once the call failed: still no match
    printed = f"SubCallError: {UNMATCHED_PROMPT}\n"
    log = _log_with_child(tmp_path / "other.jsonl", code, full(printed), "What is the capital of France?")
    report = await replay(log, workdir=tmp_path)
    assert report.checks[1].verdict == MISMATCHED and not report.ok
    assert report.checks[1].detail == (
        "1 sub-call prompt(s) match no recorded one; 1 sub-agent(s) the recorded cell started were never asked"
    )
    [call] = report.unmatched_calls
    assert (call.step, call.fn, call.prompt) == (1, "llm_query", "What is the capital of Spain?")
    assert report.answered_calls == 0
    lines = report.lines()
    assert (
        "cell   1 llm_query prompt (29 chars) 'What is the capital of Spain?' matches no recorded sub-agent; "
        f"the call failed with SubCallError: {UNMATCHED_PROMPT}"
    ) in lines
    assert "sub-calls answered from the log: 0; matching no recorded prompt: 1" in lines


async def test_a_cell_that_skips_a_sub_call_its_recorded_run_made_is_a_mismatch(tmp_path):
    log = _log_with_child(tmp_path / "skipped.jsonl", "print('Paris')", full("Paris\n"), "Capital of France?")
    report = await replay(log, workdir=tmp_path)
    assert report.checks[1].verdict == MISMATCHED  # though it printed the same
    assert report.checks[1].detail == "1 sub-agent(s) the recorded cell started were never asked"


async def test_a_sub_call_to_a_recorded_sub_agent_that_never_finished_fails_and_is_noted(tmp_path):
    log = FastLog()
    log.start("root", "the task")
    log.start("child", "What is the capital of France?", depth=1, parent="root")  # and nothing more
    code = CATCHING.format(prompt="What is the capital of France?")
    log.cell("root", 1, code, full(f"SubCallError: {UNFINISHED_CHILD}\n"))
    report = await replay(log.write(tmp_path / "unfinished.jsonl"), workdir=tmp_path)
    assert report.checks[1].verdict == MATCHED and report.unmatched_calls == []
    assert report.notes[-1] == (
        f"1 sub-call(s) went to a recorded sub-agent that ended without a result; they failed with "
        f"SubCallError: {UNFINISHED_CHILD}"
    )


async def test_batched_items_without_a_recorded_prompt_become_error_strings(tmp_path):
    code = "print(llm_query_batched(['What is the capital of France?', 'Who are you?']))"
    expected = f"['Paris', 'Error: {UNMATCHED_PROMPT}']\n"
    log = _log_with_child(tmp_path / "batch.jsonl", code, full(expected), "What is the capital of France?")
    report = await replay(log, workdir=tmp_path)
    assert report.checks[1].verdict == MISMATCHED
    assert (
        report.checks[1].detail == "1 sub-call prompt(s) match no recorded one"
    )  # its output itself matched
    assert [c.prompt for c in report.unmatched_calls] == ["Who are you?"]


async def test_long_prompts_match_on_what_the_log_shows_of_them(tmp_path):
    head, tail = "h" * 600, "t" * 600
    recorded_prompt = head + "m" * 300 + tail
    code = "print(llm_query('h' * 600 + 'M' * 300 + 't' * 600))"  # the middle differs: the log cannot show it
    log = _log_with_child(tmp_path / "long.jsonl", code, full("Paris\n"), recorded_prompt)
    report = await replay(log, workdir=tmp_path)
    assert report.ok and report.answered_calls == 1
    assert report.notes[-1].startswith(
        "1 sub-call prompt(s) were matched on their length and first and last 500"
    )
    code = "print(llm_query('H' * 600 + 'm' * 300 + 't' * 600))"
    log = _log_with_child(tmp_path / "long2.jsonl", code, full("Paris\n"), recorded_prompt)
    report = await replay(log, workdir=tmp_path)
    assert report.checks[1].verdict == MISMATCHED and len(report.unmatched_calls) == 1


LINES = "for i in range(400):\n    print(f'line {i}')"
PRINTED = "".join(f"line {i}\n" for i in range(400))


async def test_a_truncated_output_whose_shown_tail_matches_is_unverifiable_not_a_match(tmp_path):
    report = await replay(
        one_cell_log(tmp_path / "t.jsonl", LINES, truncated(PRINTED, 100)), workdir=tmp_path
    )
    check = report.checks[1]
    assert check.verdict == UNVERIFIABLE and not report.ok
    unchecked = len(PRINTED) - 100
    assert check.detail == (
        f"the log keeps only the last 100 characters of the output, which match; the first {unchecked:,} "
        "characters of ours are unchecked"
    )
    assert f"cell   1 output unverifiable  {check.detail}" in report.lines()
    assert report.lines()[-1] == "cells matched: 1/2, mismatched: 0, unverifiable: 1"


async def test_a_truncated_output_is_still_a_mismatch_where_what_is_shown_differs(tmp_path):
    changed = truncated(PRINTED.replace("line 399", "line 400"), 100)
    report = await replay(one_cell_log(tmp_path / "t.jsonl", LINES, changed), workdir=tmp_path)
    assert report.checks[1].verdict == MISMATCHED and "in the shown tail" in report.checks[1].detail
    short = one_cell_log(tmp_path / "s.jsonl", "print('line 399')", truncated(PRINTED, 9))
    report = await replay(short, workdir=tmp_path)
    assert report.checks[1].detail == "the log shows the last 9 characters of a longer output; ours printed 9"


async def test_a_truncated_frame_that_shows_only_an_error_matches_no_stdout(tmp_path):
    code = LINES + "\nraise ValueError('too many lines')"
    recorded = truncated(PRINTED + pyodide_error("ValueError: too many lines", 3), 60)
    assert "Error: Traceback" not in recorded  # the log kept the end of the traceback only
    report = await replay(one_cell_log(tmp_path / "e.jsonl", code, recorded), workdir=tmp_path)
    assert report.checks[1].verdict == UNVERIFIABLE
    assert report.checks[1].detail.startswith("the log keeps only the end of its error, which match")
    silent = one_cell_log(tmp_path / "f.jsonl", "raise ValueError('too many lines')", recorded)
    assert (await replay(silent, workdir=tmp_path)).checks[
        1
    ].verdict == UNVERIFIABLE  # nothing printed: unchecked
    other = one_cell_log(tmp_path / "g.jsonl", "raise KeyError('x')", recorded)
    assert (await replay(other, workdir=tmp_path)).checks[1].verdict == MISMATCHED


async def test_a_truncated_output_with_an_error_checks_the_stdout_it_shows(tmp_path):
    code = LINES + "\nraise ValueError('too many lines')"
    error = pyodide_error("ValueError: too many lines", 3)
    report = await replay(
        one_cell_log(tmp_path / "a.jsonl", code, truncated(PRINTED + error, 500)), workdir=tmp_path
    )
    assert report.checks[1].verdict == UNVERIFIABLE
    changed = truncated(PRINTED.replace("line 398", "line 397") + error, 500)
    report = await replay(one_cell_log(tmp_path / "b.jsonl", code, changed), workdir=tmp_path)
    assert report.checks[1].verdict == MISMATCHED


async def test_an_error_that_is_not_a_python_traceback_is_unverifiable(tmp_path):
    recorded = full("\nError: Context passed to llm_query is too short (12 chars). ")  # a JavaScript error
    report = await replay(
        one_cell_log(tmp_path / "js.jsonl", "raise RuntimeError('x')", recorded), workdir=tmp_path
    )
    assert report.checks[1].verdict == UNVERIFIABLE
    assert report.checks[1].detail.startswith("the log records an error that is not a Python traceback")


async def test_a_final_cell_without_a_recorded_result_is_unverifiable(tmp_path):
    log = FastLog()
    log.start("root", "the task")
    log.final("root", 1, "FINAL('done')", "done")
    log.records.pop()  # the log ends before the final_result line
    report = await replay(log.write(tmp_path / "cut.jsonl"), workdir=tmp_path)
    assert report.checks[-1].verdict == UNVERIFIABLE
    assert report.checks[-1].detail == "the log records no final result"


def test_recorded_outputs_are_split_into_stdout_and_error():
    error = pyodide_error("KeyError: 'b'", 3)
    rec = fast_rlm.recorded_output(full("a\n" + error))
    assert (rec.frame, rec.stdout, rec.error) == ("full", "a\n", error[len("\nError: ") : -1])
    assert fast_rlm.raised(rec.error, "<exec>") == fast_rlm.PythonError("KeyError: 'b'", ((3, "<module>"),))
    printed = fast_rlm.recorded_output(full("Error: not raised\n"))  # printed text is not an error
    assert (printed.stdout, printed.error) == ("Error: not raised\n", None)
    cut = fast_rlm.recorded_output(truncated("a\n" + error, 30))
    assert cut.error_cut and cut.stdout == "" and cut.error.endswith("KeyError: 'b'\n")
    assert fast_rlm.recorded_output("[EMPTY OUTPUT]") == fast_rlm.RecordedOutput("empty", "", None)


def test_truncation_counts_utf16_units_as_javascript_does():
    assert fast_rlm.js_length("a😀") == 3
    assert fast_rlm.js_tail("xa😀", 3) == "a😀"


def test_shown_contexts_of_every_length_rebuild_to_what_was_shown():
    for length in (10, 500, 501, 700, 999, 1000, 1001, 5000):
        text = "".join(chr(ord("a") + i % 26) for i in range(length))
        shown = fast_rlm.shown_context(first_output(text))
        assert shown is not None and shown.matches(text), length
        assert shown.rebuild() == text if length <= 1000 else len(shown.rebuild()) == length
        assert not shown.matches(text[:-1] + "!") and not shown.matches(text + "a")
