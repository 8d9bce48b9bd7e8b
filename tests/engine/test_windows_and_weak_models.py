"""A model's context window respected, long turns compacted, cut replies continued, and the notes
that keep a weak model moving: with the scripted client and the real worker."""

from __future__ import annotations

from rlm_tui.events.fold import fold_turns
from rlm_tui.llm.base import Usage
from rlm_tui.llm.scripted import Reply
from tests.engine.conftest import repl

ROOT = "scripted/root"


async def test_a_long_turn_is_compacted_and_the_recorded_prompt_is_what_was_sent(make_session):
    # Each cell prints ~1,800 characters; a 3,000-token window holds only a few iterations of that.
    chatty = [repl(f"step{i} = {i}\nprint('{i}' * 1800)") for i in range(1, 9)]
    h = await make_session(root=[*chatty, "FINAL_VAR(step8)"], windows={ROOT: 3000})
    result = await h.session.run_turn("Work through eight steps.")
    assert result.status == "ok" and result.answer == "8"

    compactions = h.of("Compacted")
    assert compactions, "the prompt was never compacted"
    first = compactions[0]
    assert first.tokens_after < first.tokens_before and first.window == 3000
    assert "step1" in first.summary  # the REPL's variables are named for the model
    # Every request fits the window with its reply...
    for request in h.root_requests():
        prompt = sum(len(m.content) for m in request.messages) + len(request.system or "")
        assert prompt // 4 + request.max_tokens <= 3000
    # ...and the fold rebuilds exactly the prompt of the last call, compaction included.
    (turn,) = fold_turns(h.events)
    last_sent = h.root_requests()[-1]
    recorded = [m for m in turn.iterations[-1].prompt if m["role"] != "system"]
    assert [(m["role"], m["content"]) for m in recorded] == [(m.role, m.content) for m in last_sent.messages]


async def test_a_prompt_that_cannot_fit_fails_at_once_naming_both_sizes(make_session):
    h = await make_session(root=["FINAL('never')"], windows={ROOT: 300})
    result = await h.session.run_turn("hello")
    assert result.status == "failed" and result.error_kind == "context_window"
    assert "300 tokens" in result.error and "context_window" in result.error
    assert h.root_requests() == []  # nothing was sent


async def test_every_call_gets_a_max_tokens_that_fits(make_session):
    h = await make_session(root=["FINAL('a')"], windows={ROOT: 8000})
    await h.session.run_turn("hi")
    assert h.root_requests()[0].max_tokens == 2000  # a quarter of a known window
    h2 = await make_session(root=["FINAL('a')"], max_output_tokens=300)
    await h2.session.run_turn("hi")
    assert h2.root_requests()[0].max_tokens == 300  # the setting wins


async def test_a_reply_cut_at_the_output_limit_is_continued_and_joined(make_session):
    h = await make_session(
        root=[Reply("The answer has two ", stop_reason="max_tokens"), Reply("parts.", stop_reason="end_turn")]
    )
    result = await h.session.run_turn("explain")
    assert result.status == "ok" and result.answer == "The answer has two parts."
    assert "cut off" in h.feedback(1)
    assert [e.stop_reason for e in h.of("ModelFinished")] == ["max_tokens", "end_turn"]


async def test_a_reply_still_cut_after_the_continuations_says_so(make_session):
    cut = [Reply(f"part{i} ", stop_reason="length") for i in range(4)]
    h = await make_session(root=cut)
    result = await h.session.run_turn("explain")
    assert result.status == "stopped" and result.stopped_by == "output_limit"
    assert result.answer.startswith("part0 part1 part2 part3") and "cut off" in result.answer


async def test_code_in_a_fence_that_does_not_run_gets_a_note_not_taken_as_the_answer(make_session):
    unrun = "Let me look.\n```\nlines = context.splitlines()\nprint(len(lines))\n```"
    h = await make_session(root=[unrun, repl("print('ran')"), "FINAL('done')"])
    result = await h.session.run_turn("count the lines")
    assert result.answer == "done"
    assert "did not run" in h.feedback(1) and "```repl" in h.feedback(1)


async def test_code_without_an_opening_fence_is_noted_once_then_taken(make_session):
    missing_opening = "x = 41 + 1\nprint(x)\n```"
    h = await make_session(root=[missing_opening, missing_opening])
    result = await h.session.run_turn("compute")
    assert "did not run" in h.feedback(1)
    assert (
        result.status == "ok" and result.answer == missing_opening.strip()
    )  # the second time it is the answer


async def test_prose_with_a_non_python_fence_is_an_answer(make_session):
    answer = "Run this in your shell:\n```bash\nls -la\n```"
    h = await make_session(root=[answer])
    assert (await h.session.run_turn("how do I list files?")).answer == answer


async def test_a_model_that_repeats_itself_is_told_then_stopped_as_stuck(make_session):
    same = repl("print(undefined_name)")
    h = await make_session(root=[same] * 5)
    result = await h.session.run_turn("go")
    assert result.status == "stuck" and result.answer is None and "5 times" in result.error
    assert "same reply 3 times" in h.feedback(3) and "same reply" not in h.feedback(2)


async def test_usage_the_provider_did_not_report_is_marked_estimated(make_session):
    reported = Usage(10, 5)
    estimated = Usage(10, 5, estimated=True)
    h = await make_session(root=[Reply(repl("print(1)"), usage=reported), Reply("FINAL(1)", usage=estimated)])
    result = await h.session.run_turn("go")
    assert result.usage["estimated"] is True
    assert [e.usage["estimated"] for e in h.of("ModelFinished")] == [False, True]


def test_unrun_code_is_found_only_where_code_was_meant_to_run():
    from rlm_tui.engine.replies import unrun_code

    assert unrun_code("```\nx = 1\nprint(x)\n```") is not None  # a fence without a language
    assert unrun_code("```js\nimport os\nos.listdir('.')\n```") is not None  # Python under another label
    assert unrun_code("Here:\nresult = sum(range(9))\n```") is not None  # no opening fence
    assert unrun_code("```repl\nx = 1\n```") is None  # it runs
    assert unrun_code("```bash\nls -la | wc -l\n```") is None  # not Python
    assert unrun_code("```\nThe answer is 42.\n```") is None  # prose in a fence
    assert unrun_code("Paris is the capital of France.") is None


def test_the_coach_compares_errors_by_their_last_line():
    import pytest

    from rlm_tui.engine.coaching import Coach
    from rlm_tui.errors import TurnStuck

    coach = Coach()
    tb = "Traceback (most recent call last):\n  File \"<cell {n}.1>\", line 1\nNameError: name 'x' is not defined\n"
    notes = [coach.observe(f"reply {n}", tb.format(n=n)) for n in range(1, 5)]
    assert notes[:2] == [None, None] and "same error 3 times" in notes[2]
    with pytest.raises(TurnStuck):
        coach.observe("reply 5", tb.format(n=5))


async def test_a_window_the_server_names_when_it_refuses_is_fitted_to(make_session):
    chatty = [repl(f"s{i} = {i}\nprint('{i}' * 1500)") for i in range(1, 5)]
    refused = Reply(
        error="the prompt (2,600 tokens) exceeds the window", error_kind="context_window", window=2500
    )
    h = await make_session(root=[*chatty, refused, "FINAL_VAR(s4)"])
    result = await h.session.run_turn("four steps")
    assert result.status == "ok" and result.answer == "4"
    assert h.of("Compacted") and h.of("Compacted")[0].window == 2500  # compacted to the window it named


async def test_a_first_prompt_the_server_refuses_fails_naming_the_setting(make_session):
    refused = Reply(error="too long", error_kind="context_window", window=300)
    h = await make_session(root=[refused])
    result = await h.session.run_turn("hi")
    assert result.status == "failed" and "300 tokens" in result.error and "context_window" in result.error


async def test_a_newest_iteration_too_long_for_the_window_is_shortened_not_a_failure(make_session):
    rambling = repl("x = 7\nprint('y' * 5000)", text="Let me think. " * 250)
    h = await make_session(root=[rambling, "FINAL_VAR(x)"], windows={ROOT: 1500})
    result = await h.session.run_turn("go")
    assert result.status == "ok" and result.answer == "7"
    second = h.root_requests()[1]
    assert "left out here to fit" in second.messages[-2].content
    total = sum(len(m.content) for m in second.messages) + len(second.system or "")
    assert total // 4 + second.max_tokens <= 1500
