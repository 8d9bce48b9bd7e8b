"""Hostile or broken model replies against the engine (issue 12): each attack ends the turn
cleanly, quickly and with text that can be stored.

Through a real session: the scripted client plays the model, the real worker runs the code.
"""

from __future__ import annotations

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from rlm_tui.engine.settings import EngineSettings
from rlm_tui.events.text import has_surrogates, utf8_safe
from tests.engine.conftest import repl


def _recursive_responder(task: str):
    """Every RLM (root and children) hands ``task`` to rlm_query and answers with what it got;
    a plain sub-call (rlm_query at max depth) answers "leaf"."""

    def respond(request):
        if request.purpose == "sub":
            return "leaf"
        if len(request.messages) == 1:
            return repl(f"r = rlm_query({task!r})\nFINAL('d{request.depth}(' + r + ')')")
        raise AssertionError("every RLM finishes in one reply")

    return respond


async def test_a_child_asking_its_parents_own_question_does_not_wait_on_itself(make_session):
    # The child's rlm_query is identical to the in-flight call that created it: waiting on that
    # entry would wait on itself until the cell timeout. It makes its own call instead.
    h = await make_session(responder=_recursive_responder("summarise the file"), max_depth=3, cell_timeout=20)
    started = time.perf_counter()
    result = await h.session.run_turn("go")
    assert time.perf_counter() - started < 10
    assert result.status == "ok"
    assert result.answer == "d0(d1(d2(leaf)))"
    assert [c.status for c in h.of("CellFinished")] == ["ok", "ok", "ok"]
    assert not any(s.cached for s in h.of("SubCallStarted"))


async def test_two_children_asking_each_others_questions_do_not_deadlock(make_session):
    # Child "A" asks "B" and child "B" asks "A" while both are in flight: each would wait on the
    # other's entry forever. The second waiter that would close the circle runs its own call.
    def respond(request):
        if request.purpose == "sub":
            return "leaf"
        task = request.messages[0].content.rsplit("Task:\n", 1)[-1]
        if request.depth == 0:
            return repl("out = rlm_query_batched(['A', 'B'])\nFINAL(' '.join(out))")
        other = {"A": "B", "B": "A"}.get(task)
        if other is not None and request.depth == 1:
            return repl(f"r = rlm_query({other!r})\nFINAL('{task}<' + r + ')')")
        return repl(f"FINAL('{task}@{request.depth}')")

    h = await make_session(responder=respond, max_depth=3, cell_timeout=20)
    started = time.perf_counter()
    result = await h.session.run_turn("go")
    assert time.perf_counter() - started < 10
    assert result.status == "ok"
    assert all(c.status == "ok" for c in h.of("CellFinished"))
    # The first to ask waits on the other's call; the other, whose answer it is waiting for, asks
    # the question itself (a child at depth 2). Which one asks first is up to the scheduler.
    assert result.answer in ("A<B<A@2)) B<A@2)", "A<B@2) B<A<B@2))")
    assert [s.cached for s in h.of("SubCallStarted")].count(True) == 1


async def test_siblings_still_share_an_identical_call_in_flight(make_session):
    # Not a descendant: the second identical rlm_query waits for the first and costs nothing.
    def respond(request):
        if request.purpose == "sub":
            return "leaf"
        if request.depth == 0:
            return repl("import json\nout = rlm_query_batched(['same', 'same'])\nFINAL(json.dumps(out))")
        return repl("import time\ntime.sleep(0.3)\nFINAL('done')")

    h = await make_session(responder=respond, max_depth=3)
    result = await h.session.run_turn("go")
    assert json.loads(result.answer) == ["done", "done"]
    assert [s.cached for s in h.of("SubCallStarted")] == [False, True]
    assert len([r for r in h.client.requests if r.depth == 1]) == 1


async def test_a_reply_of_a_thousand_print_floods_cannot_flood_the_next_prompt(make_session):
    # Today each cell's share is capped, but 1,000 cells of 20,000 characters made a 20 MB prompt.
    flood = "".join(repl(f"print('{i % 10}' * 20_000)") for i in range(1000))
    h = await make_session(root=[flood, "FINAL(done)"])
    result = await h.session.run_turn("go")
    assert result.answer == "done"
    defaults = EngineSettings("a", "b")
    assert len(h.of("CellStarted")) == defaults.max_cells_per_reply == 20
    feedback = h.feedback(1)
    assert len(feedback) < defaults.reply_output_chars + 5_000
    assert "Your reply had 1,000 code blocks" in feedback and "blocks 21–1000 were not run" in feedback
    assert "Your cells printed 400,020 characters in all" in feedback
    second = h.root_requests()[1]
    assert sum(len(m.content) for m in second.messages) < len(flood) + defaults.reply_output_chars + 10_000
    # every cell that ran still shows the model its head and tail
    assert all(f.output_for_model.startswith(str(i % 10) * 100) for i, f in enumerate(h.of("CellFinished")))
    assert any("only the first 20 ran" in n.message for n in h.of("Notice"))


async def test_one_cell_flooding_does_not_hide_the_output_of_the_cells_after_it(make_session):
    cells = repl("print('x' * 100_000)") + "".join(repl(f"print('result {i}')") for i in range(2, 6))
    h = await make_session(root=[cells, "FINAL(done)"])
    await h.session.run_turn("go")
    feedback = h.feedback(1)
    assert all(f"result {i}" in feedback for i in range(2, 6))
    assert len(feedback) < EngineSettings("a", "b").reply_output_chars + 5_000
    assert "cut more than usual" in feedback


async def test_a_few_cells_within_the_reply_cap_are_shown_as_before(make_session):
    cells = "".join(repl(f"print('{i}' * 19_000)") for i in range(3))
    h = await make_session(root=[cells, "FINAL(done)"])
    await h.session.run_turn("go")
    assert not any(f.truncated for f in h.of("CellFinished"))
    assert "cut more than usual" not in h.feedback(1) and "were not run" not in h.feedback(1)


def _encodable(value) -> bool:
    json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    return True


async def test_lone_surrogates_in_replies_and_cells_become_text_that_can_be_stored(make_session):
    h = await make_session(
        root=[
            # a raw lone surrogate in the reply's prose and code; code printing and raising one
            "Let me look \ud800.\n"
            + repl("print('out \\udfff put', 'pair \\ud83d\\ude00')\nllm_query('ask \\ud800')\nx = '\udc80'"),
            repl("raise ValueError('bad \\udfff')"),
            "FINAL('\\ud800x')",  # the escape in a literal makes a lone surrogate
            repl("FINAL(history[1]['content'] + '|' + '\\udfffy')"),
        ],
        sub=lambda r: "sub \udfff answer",
    )
    first = await h.session.run_turn("question \udcff")  # bad bytes in argv decode to this
    assert first.answer == "\ufffdx" and _encodable(first.answer)
    second = await h.session.run_turn("again")
    assert second.answer == "\ufffdx|\ufffdy"
    assert h.session.history[0]["content"] == "question \ufffd"
    assert _encodable(h.session.history)
    for event in h.events:
        assert _encodable(event.to_dict()), event
    output = "".join(e.text for e in h.of("CellOutput"))
    assert "out \ufffd put" in output and "pair \U0001f600" in output  # a pair becomes its character
    assert "bad \ufffd" in h.of("CellFinished")[1].error
    assert h.of("SubCallStarted")[0].prompt == "ask \ufffd"
    assert h.of("SubCallFinished")[0].response == "sub \ufffd answer"


async def test_the_reply_caps_are_settings(make_session):
    cells = "".join(repl(f"print('{i}' * 5_000)") for i in range(3))
    h = await make_session(
        root=[cells, "FINAL(done)"], engine_args={"max_cells_per_reply": 2, "reply_output_chars": 1_000}
    )
    await h.session.run_turn("go")
    assert len(h.of("CellStarted")) == 2
    feedback = h.feedback(1)
    assert "at most 2 run per reply: block 3 was not run" in feedback
    assert "you see at most 1,000 of one reply's output" in feedback
    assert sum(len(f.output_for_model) for f in h.of("CellFinished")) < 1_000 + 200  # + cut markers
    assert len(feedback) < 2_500


@settings(max_examples=300, deadline=2000)
@given(st.text(st.characters(exclude_categories=()), max_size=50))
def test_utf8_safe_text_always_encodes_and_leaves_clean_text_alone(text):
    safe = utf8_safe(text)
    safe.encode("utf-8")
    if not has_surrogates(text):
        assert safe is text
    assert utf8_safe(safe) == safe
