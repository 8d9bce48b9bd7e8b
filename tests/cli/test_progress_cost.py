"""The cost on the progress line of `rlm ask` when some or all prices are unknown."""

from __future__ import annotations

import io

from rlm_tui.cli.progress import ProgressLine
from rlm_tui.events import ModelFinished, SubCallFinished

BASE = {"session_id": "s", "turn": 1, "parent_id": "t1"}


def _model(cost: float | None) -> ModelFinished:
    return ModelFinished(
        **BASE, node_id="t1.i1", model="m", text="", duration=1.0, cost_usd=cost, usage={"input_tokens": 10}
    )


def _sub(cost: float | None) -> SubCallFinished:
    return SubCallFinished(
        **BASE,
        node_id="t1.i1.c1.s1",
        kind="llm",
        model="m",
        response="r",
        usage={"input_tokens": 5},
        cost_usd=cost,
        duration=0.1,
    )


def test_cost_is_unknown_when_no_call_was_priced():
    progress = ProgressLine(io.StringIO(), live=False)
    progress(_model(None))
    progress(_sub(None))
    assert "| cost unknown |" in progress.text()
    assert "$" not in progress.text()


def test_a_partly_priced_turn_shows_the_known_part_and_a_question_mark():
    progress = ProgressLine(io.StringIO(), live=False)
    progress(_model(None))
    progress(_sub(0.0042))
    assert "| $0.0042+? |" in progress.text()


def test_a_fully_priced_turn_shows_the_cost():
    progress = ProgressLine(io.StringIO(), live=False)
    assert "| $0.0000 |" in progress.text()  # nothing spent yet
    progress(_model(0.01))
    assert "| $0.0100 |" in progress.text()
