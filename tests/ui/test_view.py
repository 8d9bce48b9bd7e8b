"""`rlm view`: trajectory logs of other RLM tools open in the same screens, node for node."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlm_tui.trajectories import fast_rlm, official_rlm
from rlm_tui.trajectories.convert import LogFormatError, load_events
from rlm_tui.ui.view_model import ViewModel
from tests.ui.conftest import make_app, wait_for

RLM = str(Path(sys.executable).with_name("rlm"))


def _expected_fast_rlm(path: Path) -> dict[tuple[str, int], int]:
    """Per depth: one sub-call node per sub-agent run, one iteration per model step (step > 0)."""
    log = fast_rlm.load(path)
    counts: collections.Counter = collections.Counter()
    for run in log.runs.values():
        if run.depth > 0:
            counts[("rlm", run.depth)] += 1
        counts[("iteration", run.depth)] += sum(1 for s in run.steps if s.step > 0)
    return counts


def _counts(events) -> dict[tuple[str, int], int]:
    model = ViewModel()
    model.apply_all(events)
    return {k: v for k, v in model.nodes_by_depth().items() if k[0] in ("rlm", "iteration", "llm")}


def test_every_fast_rlm_log_opens_with_the_right_nodes_at_each_depth(trajectories):
    logs = sorted((trajectories / "fast-rlm").glob("*.jsonl"))
    assert len(logs) == 7
    for path in logs:
        expected = {k: v for k, v in _expected_fast_rlm(path).items() if v}
        assert _counts(load_events(path)) == expected, path.name


def test_the_official_rlm_log_opens_with_its_turns_and_iterations(trajectories):
    path = trajectories / "rlm" / "trace-log-example.jsonl"
    log = official_rlm.load(path)
    events = load_events(path)
    model = ViewModel()
    model.apply_all(events)
    assert len(model.turns) == len(log.turns) == 6
    iterations = sum(len(t.iterations) for t in log.turns)
    calls = sum(len(b.rlm_calls) for t in log.turns for it in t.iterations for b in it.code_blocks)
    assert model.nodes_by_depth()[("iteration", 0)] == iterations == 17
    assert model.nodes_by_depth().get(("llm", 1), 0) == calls
    assert [model.turns[n].answer for n in sorted(model.turns)][-1] == "1000"


def test_our_own_event_log_round_trips(tmp_path):
    from tests.ui import scenario

    events = scenario.first_turn()
    path = tmp_path / "ours.jsonl"
    path.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events))
    assert load_events(path) == events


def test_a_file_that_is_not_a_log_is_a_clear_error(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(LogFormatError, match="not a log format rlm knows"):
        load_events(path)
    done = subprocess.run([RLM, "view", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "not a log format rlm knows" in done.stderr


async def test_the_viewer_shows_a_log_read_only(trajectories, home):
    path = next((trajectories / "fast-rlm").glob("r_count_*.jsonl"))
    app = make_app(view=(path.name, load_events(path)))
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        chat = app.chat
        assert chat.read_only_id == path.name and chat.query_one("#prompt").disabled
        assert '"Apple": 0' in chat.chat.assistants[1].body.source
        assert {chat.model.nodes[n].kind for n in chat.tree.tree_nodes} >= {
            "turn",
            "iteration",
            "cell",
            "rlm",
        }
