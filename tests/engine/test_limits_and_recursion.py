"""Child RLMs through rlm_query, and every budget limit."""

from __future__ import annotations

import json
import time

from rlm_tui.llm.scripted import Reply
from tests.engine.conftest import repl


def _depth_responder(max_plain: str = "plain answer"):
    """Root and child RLMs answer by depth; plain sub-calls answer with their depth too."""

    def respond(request):
        prompt = request.messages[-1].content
        if request.purpose == "sub":
            return f"{max_plain} at depth {request.depth}"
        if request.depth == 0:
            if len(request.messages) == 1:
                return repl("res = rlm_query('level one task', context={'numbers': [1, 2, 3]})\nprint(res)")
            return "FINAL(" + json.dumps(prompt.split("```text\n")[1].split("\n```")[0]) + ")"
        if len(request.messages) == 1:
            # A child: its context came from the parent's argument (or its prompt).
            return repl(
                f"inner = rlm_query('level {request.depth + 1} task')\nFINAL(f'd{request.depth}[{{type(context).__name__}}] ' + inner)"
            )
        raise AssertionError("children finish in one reply")

    return respond


async def test_rlm_query_to_depth_two(make_session):
    h = await make_session(responder=_depth_responder(), max_depth=3)
    result = await h.session.run_turn("go deep")
    assert result.answer == "d1[dict] d2[str] plain answer at depth 3"
    starts = h.of("SubCallStarted")
    assert [(s.kind, s.depth) for s in starts] == [("rlm", 1), ("rlm", 2), ("llm", 3)]
    # Child iterations hang below the sub-call that started them.
    child_iterations = [e for e in h.of("ModelStarted") if e.depth > 0]
    assert {e.parent_id for e in child_iterations} == {starts[0].node_id, starts[1].node_id}
    assert starts[1].parent_id.startswith(starts[0].node_id + ".i1.c1")
    assert result.usage["calls_by_depth"] == {"0": 2, "1": 1, "2": 1, "3": 1}


async def test_the_system_prompt_is_recorded_once_and_every_rlm_prompt_is_whole(make_session):
    from rlm_tui.engine import prompts
    from rlm_tui.ui.view_model import ViewModel

    h = await make_session(responder=_depth_responder(), max_depth=3)
    await h.session.run_turn("go deep")
    await h.session.run_turn("and again")
    starts = h.of("ModelStarted")
    systems = [m for e in starts for m in e.messages if m["role"] == "system"]
    assert len(starts) >= 6 and systems == [{"role": "system", "content": prompts.SYSTEM_PROMPT}]
    model = ViewModel()
    model.apply_all(h.events)
    iterations = [model.nodes[e.node_id] for e in starts]
    assert all(node.prompt.startswith("[system]\n" + prompts.SYSTEM_PROMPT) for node in iterations)


async def test_rlm_query_at_max_depth_is_a_plain_llm_query(make_session):
    h = await make_session(responder=_depth_responder())  # default max_depth 2
    result = await h.session.run_turn("go deep")
    assert result.answer == "d1[dict] plain answer at depth 2"
    assert [(s.kind, s.depth) for s in h.of("SubCallStarted")] == [("rlm", 1), ("llm", 2)]
    assert any("reaches max_depth" in n.message for n in h.of("Notice"))


async def test_iteration_limit_ends_with_a_best_answer(make_session):
    replies = [repl(f"print({i})") for i in range(3)] + ["My best guess is 7."]
    h = await make_session(root=replies, max_iterations=3)
    result = await h.session.run_turn("loop forever")
    assert result.status == "stopped" and result.stopped_by == "iterations"
    assert result.answer.startswith("My best guess is 7.")
    assert "Stopped by the iteration limit" in result.answer
    last = h.root_requests()[-1]
    assert last.purpose == "best_answer" and "Do not write any more code" in last.messages[-1].content


async def test_sub_call_limit(make_session):
    code = "out = []\nfor i in range(10):\n    out.append(llm_query(f'q{i}'))"
    h = await make_session(root=[repl(code), "Partial: 5 answers."], sub=lambda r: "a", max_sub_calls=5)
    result = await h.session.run_turn("ask ten times")
    assert result.stopped_by == "sub_calls"
    assert len([r for r in h.client.requests if r.purpose == "sub"]) == 5
    cell = h.of("CellFinished")[0]
    assert (
        cell.status == "error"
        and "BudgetExceeded" in cell.error
        and "5 sub-calls made (limit 5)" in cell.error
    )


async def test_cost_limit(make_session):
    h = await make_session(
        root=[repl("print(llm_query('x' * 40000))"), repl("print('more')"), "Best so far."],
        sub=lambda r: "y" * 400,
        price=0.00001,
        max_cost_usd=0.05,
    )
    result = await h.session.run_turn("spend")
    assert result.stopped_by == "cost"
    assert "Stopped by the cost limit" in result.answer
    assert len(h.of("CellStarted")) == 1  # no further cells after the limit


async def test_wall_time_limit_interrupts_a_long_cell(make_session):
    h = await make_session(root=[repl("import time\ntime.sleep(60)"), "Out of time."], max_seconds=1.0)
    started = time.perf_counter()
    result = await h.session.run_turn("slow")
    assert time.perf_counter() - started < 10
    assert result.stopped_by == "time"
    assert h.of("CellFinished")[0].status == "timeout"
    assert result.answer.startswith("Out of time.")


async def test_cell_timeout_does_not_end_the_turn(make_session):
    h = await make_session(root=[repl("import time\ntime.sleep(60)"), "FINAL(recovered)"], cell_timeout=0.5)
    result = await h.session.run_turn("slow cell")
    assert result.status == "ok" and result.answer == "recovered"
    assert "ran past its 0.5 s timeout" in h.feedback(1)


async def test_a_provider_failure_of_the_root_model_fails_the_turn_and_keeps_the_repl(make_session):
    h = await make_session(root=[repl("kept = 1\nprint(kept)"), Reply(error="503 upstream unavailable")])
    result = await h.session.run_turn("go")
    assert result.status == "failed" and "503 upstream unavailable" in result.error
    assert h.of("Error")[0].message == result.error
    assert (await h.session.repl.run_cell("print(kept)")).output == "1\n"
    assert h.session.history[-1]["content"].startswith("[this turn failed")


async def test_the_best_answer_after_a_cost_limit_sees_the_output_that_crossed_it(make_session):
    h = await make_session(
        root=[repl("r = llm_query('x' * 40000)\nprint('the answer is', r)"), "It is 42."],
        sub=lambda r: "42",
        price=0.00001,
        max_cost_usd=0.05,
    )
    result = await h.session.run_turn("spend")
    assert result.stopped_by == "cost"
    assert result.answer.startswith("It is 42.") and "Stopped by the cost limit" in result.answer
    last = h.root_requests()[-1]
    assert last.purpose == "best_answer"
    assert "the answer is 42" in last.messages[-1].content
    assert "Do not write any more code" in last.messages[-1].content
    assert [m.role for m in last.messages] == ["user", "assistant", "user"]


async def test_the_best_answer_after_a_sub_call_limit_sees_the_failing_cell(make_session):
    code = "a = llm_query('q1')\nprint('first:', a)\nb = llm_query('q2')"
    h = await make_session(
        root=[repl(code), "Only the first: A."], sub=lambda r: r.messages[-1].content.upper(), max_sub_calls=1
    )
    result = await h.session.run_turn("ask twice")
    assert result.stopped_by == "sub_calls"
    assert result.answer.startswith("Only the first: A.")
    request = h.root_requests()[-1].messages[-1].content
    assert "first: Q1" in request and "BudgetExceeded" in request
    assert "1 sub-calls made (limit 1)" in request


async def test_a_cost_limit_that_cannot_be_enforced_is_said_once_per_model(make_session):
    h = await make_session(
        root=[repl("print(llm_query('a'), llm_query('b'))"), repl("print(llm_query('c'))"), "FINAL(done)"],
        sub=lambda r: "ok",
        price=None,  # no price known for any model
        max_cost_usd=0.01,
    )
    result = await h.session.run_turn("spend")
    assert result.status == "ok" and result.answer == "done" and result.stopped_by is None
    notices = [n.message for n in h.of("Notice") if "cannot be enforced" in n.message]
    assert notices == [
        "the cost limit ($0.01) cannot be enforced for scripted/root: its price is unknown",
        "the cost limit ($0.01) cannot be enforced for scripted/sub: its price is unknown",
    ]


async def test_no_notice_about_unknown_prices_without_a_cost_limit(make_session):
    h = await make_session(
        root=[repl("print(llm_query('a'))"), "FINAL(done)"], sub=lambda r: "ok", price=None
    )
    assert (await h.session.run_turn("go")).answer == "done"
    assert not [n for n in h.of("Notice") if "cannot be enforced" in n.message]


async def test_a_cjk_prompt_too_large_for_the_sub_model_fails_in_the_cell(make_session):
    # 3,000 characters: 750 tokens by a characters/4 estimate, but about 3,000 in fact.
    code = "try:\n    llm_query('中文' * 1500)\nexcept ContextWindowError as e:\n    FINAL(str(e))"
    h = await make_session(root=[repl(code)], windows={"scripted/sub": 1000})
    result = await h.session.run_turn("go")
    assert "about 3,000 tokens (3,000 characters)" in result.answer
    assert not [r for r in h.client.requests if r.purpose == "sub"]
