"""Whole turns through the engine, with a scripted model and the real worker."""

from __future__ import annotations

import asyncio
import json

from rlm_tui.llm.scripted import Reply
from tests.engine.conftest import repl

FRUITS = [
    "Apple",
    "Banana",
    "Orange",
    "Strawberry",
    "Blueberry",
    "Grape",
    "Mango",
    "Pineapple",
    "Watermelon",
    "Cantaloupe",
    "Peach",
    "Pear",
    "Plum",
    "Cherry",
    "Raspberry",
    "Blackberry",
    "Kiwi",
    "Papaya",
    "Passion Fruit",
    "Dragon Fruit",
    "Lychee",
    "Guava",
    "Pomegranate",
    "Fig",
    "Date",
    "Coconut",
    "Avocado",
    "Lemon",
    "Lime",
    "Grapefruit",
    "Tangerine",
    "Nectarine",
    "Apricot",
    "Persimmon",
    "Mulberry",
    "Cranberry",
    "Gooseberry",
    "Elderberry",
    "Boysenberry",
    "Marionberry",
    "Jackfruit",
    "Durian",
    "Star Fruit",
    "Mangosteen",
    "Rambutan",
    "Longan",
    "Sapodilla",
    "Horned Melon",
    "Kiwifruit",
    "Currant",
]
COUNTRIES = ["France", "Brazil", "Peru", "Norway", "Argentina", "Kenya", "Croatia", "Germany"]
ANIMALS = ["Tiger", "Parrot", "Horse", "Bear", "Zebra", "Ferret", "Cat"]

COUNT_FRUITS = """
import re
fruits = [re.match(r'\\d+\\.\\s*(.+)', line.strip()).group(1) for line in fruits_response.strip().splitlines()]
assert len(fruits) == 50, len(fruits)
fruit_r_count = {fruit: fruit.lower().count('r') for fruit in fruits}
print(len(fruit_r_count), 'fruits counted')
FINAL_VAR('fruit_r_count')
"""


async def test_seed_problem_fruit_r_count(make_session):
    numbered = "\n".join(f"{i}. {name}" for i, name in enumerate(FRUITS, 1))
    h = await make_session(
        root=[
            repl(
                "fruits_response = llm_query('Generate a list of exactly 50 unique fruit names, numbered 1-50.')\n"
                "print(fruits_response[:200])",
                "First I ask a sub-model for the names.",
            ),
            repl(COUNT_FRUITS),
        ],
        sub=lambda request: numbered,
    )
    result = await h.session.run_turn("Generate 50 fruits with a subagent and count the r's in each.")
    assert result.status == "ok"
    assert json.loads(result.answer) == {name: name.lower().count("r") for name in FRUITS}
    assert result.usage["calls_by_depth"] == {"0": 2, "1": 1}
    # The model saw the sub-call's output from the first cell before finishing.
    assert "1. Apple" in h.feedback(1)


async def test_three_categories_through_llm_query_batched(make_session):
    lists = {"fruits": FRUITS[:12], "countries": COUNTRIES, "animals": ANIMALS}

    def sub(request):
        prompt = request.messages[-1].content
        category = next(c for c in lists if c in prompt)
        return "\n".join(lists[category])

    code = """
categories = ['fruits', 'countries', 'animals']
replies = llm_query_batched([f'List some {c}, one per line, nothing else.' for c in categories])
result = {c: {name: name.lower().count('r') for name in reply.splitlines()} for c, reply in zip(categories, replies)}
FINAL_VAR('result')
"""
    h = await make_session(root=[repl(code)], sub=sub)
    result = await h.session.run_turn("For fruits, countries and animals, count the r's in each name.")
    expected = {c: {n: n.lower().count("r") for n in names} for c, names in lists.items()}
    assert json.loads(result.answer) == expected
    starts = h.of("SubCallStarted")
    assert len(starts) == 3 and {s.parent_id for s in starts} == {"t1.i1.c1"}


async def test_text_final_after_code_is_not_taken(make_session):
    h = await make_session(
        root=[repl("x = 6 * 7\nprint(x)") + "\nFINAL(41)", "The output shows 42.\nFINAL(42)"],
    )
    result = await h.session.run_turn("What is six times seven?")
    assert result.answer == "42"
    assert len(h.root_requests()) == 2
    assert "it was not taken" in h.feedback(1)


async def test_final_called_in_code_is_taken_at_once(make_session):
    h = await make_session(
        root=[repl("x = 6 * 7\nFINAL(f'the answer is {x}')") + repl("print('never runs')")]
    )
    result = await h.session.run_turn("What is six times seven?")
    assert result.answer == "the answer is 42"
    assert len(h.of("CellStarted")) == 1


async def test_text_final_var_reads_the_repl(make_session):
    h = await make_session(root=[repl("total = sum(range(10))\nprint(total)"), "FINAL_VAR(total)"])
    result = await h.session.run_turn("Sum 0..9")
    assert result.answer == "45"


async def test_answer_ready_convention(make_session):
    h = await make_session(root=[repl("answer['content'] = 'done via answer'\nanswer['ready'] = True")])
    assert (await h.session.run_turn("go")).answer == "done via answer"


async def test_conversational_reply_without_code_is_the_answer(make_session):
    h = await make_session(root=["Hello! How can I help you today?"])
    result = await h.session.run_turn("hi")
    assert result.answer == "Hello! How can I help you today?"
    assert h.of("CellStarted") == []


async def test_an_exception_the_model_then_fixes(make_session):
    h = await make_session(
        root=[
            repl("values = [3, 1, 2]\nprint(sorted(valuse))") + repl("print('skipped')"),
            repl("print(sorted(values))\nFINAL(str(sorted(values)))"),
        ]
    )
    result = await h.session.run_turn("sort 3 1 2")
    assert result.answer == "[1, 2, 3]"
    seen = h.feedback(1)
    assert "NameError: name 'valuse' is not defined" in seen
    assert "print(sorted(valuse))" in seen
    assert "rlm_tui" not in seen
    assert "1 block(s) after the failing cell were not run" in seen
    statuses = [e.status for e in h.of("CellFinished")]
    assert statuses == ["error", "ok"]


async def test_a_2mb_print_reaches_the_model_truncated(make_session):
    h = await make_session(root=[repl("print('a' * 1_000_000 + 'b' * 1_000_000)"), "FINAL(done)"])
    await h.session.run_turn("print a lot")
    seen = h.feedback(1)
    body = seen.split("```text\n", 1)[1].split("\n```", 1)[0]
    marker = "\n[... 1,980,001 characters cut ...]\n"
    assert marker in body
    assert len(body) - len(marker) <= 20_000
    assert body.startswith("a" * 10_000) and body.endswith("b" * 9_999)
    finished = h.of("CellFinished")[0]
    assert finished.truncated and finished.output_chars == 2_000_001
    streamed = "".join(e.text for e in h.of("CellOutput"))
    assert len(streamed) == 2_000_001  # the UI gets the full captured text


async def test_identical_sub_calls_are_served_from_the_cache(make_session):
    h = await make_session(
        root=[repl("a = llm_query('same prompt')\nb = llm_query('same prompt')\nFINAL(a == b)")],
        sub=lambda r: "cached text",
    )
    await h.session.run_turn("go")
    assert len([r for r in h.client.requests if r.purpose == "sub"]) == 1
    started = h.of("SubCallStarted")
    assert [s.cached for s in started] == [False, True]
    assert h.of("TurnFinished")[0].usage["cache_hits"] == 1


async def test_a_failed_batch_item_is_an_error_string(make_session):
    def sub(request):
        if "bad" in request.messages[-1].content:
            return Reply(error="provider exploded")
        return "fine"

    h = await make_session(
        root=[repl("out = llm_query_batched(['good', 'bad', 'good too'])\nFINAL_VAR('out')")], sub=sub
    )
    result = await h.session.run_turn("go")
    out = json.loads(result.answer)
    assert out[0] == "fine" and out[2] == "fine"
    assert out[1].startswith("Error:") and "provider exploded" in out[1]


async def test_a_prompt_beyond_the_context_window_fails_clearly_in_the_cell(make_session):
    code = "try:\n    llm_query('word ' * 2000)\nexcept ContextWindowError as e:\n    FINAL(str(e))"
    h = await make_session(root=[repl(code)], windows={"scripted/sub": 1000})
    result = await h.session.run_turn("go")
    assert "about 2,500 tokens (10,000 characters)" in result.answer
    assert "scripted/sub accepts at most 1,000 tokens" in result.answer
    assert not [r for r in h.client.requests if r.purpose == "sub"]


async def test_events_form_a_tree(make_session):
    h = await make_session(
        root=[repl("r = llm_query_batched(['a', 'b'])\nprint(r)"), repl("FINAL('ok')")], sub=lambda r: "x"
    )
    await h.session.run_turn("go")
    seen: set[str] = set()
    for event in h.events:
        assert event.session_id == h.session.session_id and event.turn == 1
        if event.parent_id is not None:
            assert event.parent_id in seen, f"{event.event_type} {event.node_id} before its parent"
        seen.add(event.node_id)
    kinds = [e.event_type for e in h.events if e.event_type != "ModelDelta"]
    assert kinds[0] == "TurnStarted" and kinds[-2:] == ["AnswerReady", "TurnFinished"]


async def test_turns_share_history_and_memory_but_not_the_prompt(make_session):
    h = await make_session(
        root=[
            repl("memory['favourite'] = 'teal'\nFINAL('noted')"),
            repl("FINAL(memory['favourite'] + ' / ' + history[0]['content'])"),
        ]
    )
    await h.session.run_turn("My favourite colour is teal, remember it.")
    result = await h.session.run_turn("What did I say?")
    assert result.answer == "teal / My favourite colour is teal, remember it."
    second_turn = h.root_requests()[1]
    prompt_text = second_turn.system + "".join(m.content for m in second_turn.messages)
    assert "favourite colour is teal" not in prompt_text
    assert [e["role"] for e in h.session.history] == ["user", "assistant", "user", "assistant"]


async def test_a_long_user_message_goes_to_context_with_a_preview(make_session):
    long_message = "Please summarise this. " + "lorem ipsum " * 2000
    h = await make_session(root=[repl("FINAL(str(len(context)))")])
    result = await h.session.run_turn(long_message)
    assert result.answer == str(len(long_message))
    first = h.root_requests()[0].messages[0].content
    assert "it is in `context`" in first
    assert len(first) < 3000


async def test_cancel_mid_turn_keeps_what_was_done(make_session):
    h = await make_session(
        root=[
            repl("kept = 'from before'\nprint('step one')"),
            repl("print('working')\nimport time\ntime.sleep(60)"),
        ]
    )
    working = asyncio.Event()
    h.session.emit = lambda e: (
        h.events.append(e),
        e.event_type == "CellOutput" and "working" in e.text and working.set(),
    )
    task = asyncio.create_task(h.session.run_turn("do something slow"))
    await asyncio.wait_for(working.wait(), 10)
    assert h.session.cancel()
    result = await asyncio.wait_for(task, 10)
    assert result.status == "cancelled" and result.answer is None
    assert h.of("CellFinished")[-1].status == "interrupted"
    assert h.session.history[-1]["content"].startswith("[the user cancelled")
    check = await h.session.repl.run_cell("print(kept)")
    assert check.output == "from before\n"


async def test_a_text_final_ends_at_its_closing_parenthesis(make_session):
    h = await make_session(root=["FINAL(42)\n(Computed from the table.)"])
    assert (await h.session.run_turn("the answer?")).answer == "42"


async def test_one_broken_item_never_fails_a_batch(make_session):
    code = (
        "class Bad:\n    def __reduce__(self):\n        return (int, ('not a number',))\n"  # fails when unpickled
        "out = rlm_query_batched(['fine', 'bad'], contexts=[1, Bad()])\nFINAL_VAR('out')"
    )

    def respond(request):
        return "child done" if request.depth == 1 else repl(code)

    h = await make_session(responder=respond)
    result = await h.session.run_turn("go")
    out = json.loads(result.answer)
    assert out[0] == "child done"
    assert out[1].startswith("Error:") and "invalid literal for int()" in out[1]


async def test_values_and_awaits_in_the_same_async_cell(make_session):
    code = """
import asyncio, json
data = json.loads(llm_query('give json'))
both = await asyncio.gather(llm_query('a'), llm_query('b'))
joined = ' + '.join([llm_query('c'), llm_query('d')])
FINAL(f"{type(data).__name__} {data['k']} | {both} | {joined}")
"""

    def sub(request):
        prompt = request.messages[-1].content
        return '{"k": 7}' if prompt == "give json" else prompt.upper()

    h = await make_session(root=[repl(code)], sub=sub)
    result = await h.session.run_turn("go")
    assert result.answer == "dict 7 | ['A', 'B'] | C + D"


async def test_gather_of_a_batched_and_a_single_sub_call(make_session):
    code = "import asyncio\nout = await asyncio.gather(llm_query_batched(['a', 'b']), llm_query('c'))\nFINAL(out)"
    h = await make_session(root=[repl(code)], sub=lambda r: r.messages[-1].content.upper())
    result = await h.session.run_turn("go")
    assert json.loads(result.answer) == [["A", "B"], "C"]


async def test_a_repl_that_dies_resolving_final_var_is_said_to_the_model_not_a_missing_variable(
    make_session,
):
    bomb = "import os\nclass Bomb:\n    def __repr__(self):\n        os._exit(3)\n    __str__ = __repr__\nb = Bomb()"
    h = await make_session(root=[repl(bomb), "FINAL_VAR(b)", "FINAL('recovered')"])
    result = await h.session.run_turn("go")
    assert result.status == "ok" and result.answer == "recovered"
    told = h.feedback(2)
    assert "the REPL failed" in told and "no variable named" not in told
