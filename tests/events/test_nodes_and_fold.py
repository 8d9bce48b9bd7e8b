"""The node-id grammar and the fold of events into turns: what the export, `rlm sessions show` and
the app all read."""

from __future__ import annotations

import pytest

from rlm_tui.events import (
    AnswerReady,
    CellFinished,
    CellOutput,
    CellStarted,
    FrozenDict,
    ModelFinished,
    ModelStarted,
    SubCallFinished,
    SubCallStarted,
    TurnFinished,
    TurnStarted,
    event_from_dict,
    nodes,
)
from rlm_tui.events.fold import TurnFold, fold_turns


def test_ids_are_built_and_read_by_one_grammar():
    cell = nodes.cell(nodes.iteration(nodes.turn(3), 2), 1)
    sub = nodes.sub_call(cell, 4)
    child = nodes.iteration(sub, 1)
    assert child == "t3.i2.c1.s4.i1"
    assert nodes.turn_of(child) == 3 and nodes.turn_of(nodes.RESUME) is None
    assert nodes.last_label(child) == "iteration 1"
    assert nodes.last_label(nodes.best_answer("t3")) == "best answer"
    assert nodes.last_label(nodes.retry(sub)) == "retry"
    assert nodes.within(child, "t3.i2") and not nodes.within("t3.i20", "t3.i2")
    for bad in ("", "x1", "t1..i2", "i1", "t1.q3", "t1.t2", "t1.c1", "t1.i1.s1", "t1.best.i1"):
        with pytest.raises(ValueError):
            nodes.parse(bad)


def test_events_are_immutable_all_the_way_down_and_round_trip():
    event = ModelFinished(
        session_id="s", turn=1, node_id="t1.i1", parent_id="t1", model="m", text="hi",
        usage={"input_tokens": 3, "by": {"a": [1, 2]}}, cost_usd=None, duration=0.1,
    )  # fmt: skip
    assert isinstance(event.usage, FrozenDict) and event.usage["by"]["a"] == (1, 2)
    with pytest.raises(TypeError):
        event.usage["input_tokens"] = 4  # type: ignore[index]
    assert event_from_dict(event.to_dict()) == event
    assert event.to_dict()["usage"] == {"input_tokens": 3, "by": {"a": [1, 2]}}


def _turn_events() -> list:
    common = {"session_id": "s", "turn": 1}
    system = {"role": "system", "content": "RULES"}
    return [
        TurnStarted(**common, node_id="t1", parent_id=None, user_message="count", root_model="r", sub_model="s"),
        ModelStarted(**common, node_id="t1.i1", parent_id="t1", model="r", depth=0, iteration=1,
                     messages=[system, {"role": "user", "content": "count"}], prompt_chars=11),
        ModelFinished(**common, node_id="t1.i1", parent_id="t1", model="r", text="```repl\nx```",
                      usage={"input_tokens": 5}, cost_usd=0.5, duration=1.0),
        CellStarted(**common, node_id="t1.i1.c1", parent_id="t1.i1", code="x", depth=0, iteration=1, index=1),
        CellOutput(**common, node_id="t1.i1.c1", parent_id="t1.i1", stream="stdout", text="out\n"),
        SubCallStarted(**common, node_id="t1.i1.c1.s1", parent_id="t1.i1.c1", kind="llm", model="s",
                       prompt="p", depth=1),
        SubCallFinished(**common, node_id="t1.i1.c1.s1", parent_id="t1.i1.c1", kind="llm", model="s",
                        response="r", usage={}, cost_usd=None, duration=0.2),
        CellFinished(**common, node_id="t1.i1.c1", parent_id="t1.i1", status="ok", output_for_model="out\n",
                     output_chars=4, dropped_chars=0, truncated=False, error=None, duration=0.3),
        ModelStarted(**common, node_id="t1.i2", parent_id="t1", model="r", depth=0, iteration=2,
                     messages=[{"role": "assistant", "content": "```repl\nx```"},
                               {"role": "user", "content": "out"}], prompt_chars=30),
        ModelFinished(**common, node_id="t1.i2", parent_id="t1", model="r", text="FINAL(3)",
                      usage={}, cost_usd=None, duration=1.0),
        AnswerReady(**common, node_id="t1", parent_id=None, answer="3"),
        TurnFinished(**common, node_id="t1", parent_id=None, status="ok", usage={"cost_usd": 0.5}, duration=2.5),
    ]  # fmt: skip


def test_a_turn_is_folded_once_for_every_reader():
    (turn,) = fold_turns(_turn_events())
    assert (turn.user, turn.answer, turn.status, turn.outcome, turn.duration) == (
        "count",
        "3",
        "ok",
        "ok",
        2.5,
    )
    first, second = turn.iterations
    assert [m["role"] for m in second.prompt] == ["system", "user", "assistant", "user"]  # whole prompt
    assert first.cells[0].output == "out\n" and first.cells[0].calls[0].status == "ok"
    assert second.final == "3"
    assert turn.counts["iterations at depth 0"] == 2 and turn.counts["llm sub-calls at depth 1"] == 1
    assert turn.cells == ["t1.i1.c1"] and turn.events == 12


def test_a_turn_that_never_finished_reads_as_interrupted():
    fold = TurnFold().apply_all(_turn_events()[:5])
    (turn,) = fold.ordered()
    assert turn.status == "running" and turn.outcome == "interrupted" and turn.answer is None
