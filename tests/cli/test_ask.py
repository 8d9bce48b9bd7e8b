"""`rlm ask` end to end: the installed command, the real Anthropic SDK and litellm, the loopback
provider. Each test runs through both client paths unless it says otherwise."""

from __future__ import annotations

import json
import random
import time

import pytest

from tests.cli.conftest import ROOT_SYSTEM, repl, root_requests
from tests.engine.test_turns import ANIMALS, COUNT_FRUITS, COUNTRIES, FRUITS
from tests.fakes.provider import FakeReply

NUMBERED = "\n".join(f"{i}. {name}" for i, name in enumerate(FRUITS, 1))


def test_fruit_problem(rlm, script, provider):
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl(
                "fruits_response = llm_query('Generate exactly 50 unique fruit names, numbered 1-50.')\n"
                "print(fruits_response[:100])"
            ),
            repl(COUNT_FRUITS),
        ],
    )
    script.on(contains="50 unique fruit names", reply=NUMBERED)
    done, out = rlm.ask_json("Name 50 fruits with a subagent and count the r's in each.")
    assert done.returncode == 0, done.stderr
    assert json.loads(out["answer"]) == {name: name.lower().count("r") for name in FRUITS}
    assert out["turn"] == 1 and out["stopped_by"] is None and out["session_id"]
    usage = out["usage"]
    assert usage["calls_by_depth"] == {"0": 2, "1": 1}
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["cost_usd"] > 0 and usage["cost_complete"]
    roots = root_requests(provider)
    assert len(roots) == 2 and all(r.stream for r in roots)
    sub = [r for r in provider.requests if "50 unique fruit" in r.last_user()]
    assert sub[0].model == ("claude-haiku-5-5" if rlm.path == "anthropic" else "gpt-4o-mini")
    if rlm.path == "anthropic":  # the rules are marked for prompt caching
        assert roots[0].body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_three_categories(rlm, script):
    lists = {"fruits": FRUITS[:10], "countries": COUNTRIES, "animals": ANIMALS}
    code = """
cats = ['fruits', 'countries', 'animals']
replies = llm_query_batched([f'List some {c}, one per line.' for c in cats])
result = {c: {n: n.lower().count('r') for n in r.splitlines()} for c, r in zip(cats, replies)}
FINAL_VAR('result')
"""
    script.on(system_contains=ROOT_SYSTEM, replies=[repl(code)])
    for category, names in lists.items():
        script.on(contains=f"List some {category}", reply="\n".join(names))
    done, out = rlm.ask_json("Count the r's in fruits, countries and animals.")
    assert done.returncode == 0, done.stderr
    assert json.loads(out["answer"]) == {
        c: {n: n.lower().count("r") for n in names} for c, names in lists.items()
    }
    assert out["usage"]["calls_by_depth"] == {"0": 1, "1": 3}


def test_a_50_mb_file_never_enters_a_prompt(rlm, script, provider, tmp_path):
    rng = random.Random(7)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    lines = [
        f"row {i:08d} {' '.join(rng.choices(words, k=8))} {rng.randrange(10**9):09d}" for i in range(700_000)
    ]
    big = tmp_path / "big.log"
    big.write_text("\n".join(lines) + "\n")
    size = big.stat().st_size
    assert size > 50_000_000
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl("print(type(context).__name__, len(context), context.count('\\n'))"),
            repl("FINAL(f'{len(context)} characters in {len(files)} file')"),
        ],
    )
    done, out = rlm.ask_json("How big is the attached log?", "--file", str(big))
    assert done.returncode == 0, done.stderr
    assert out["answer"] == f"{size} characters in 1 file"
    seen = "\n".join(r.text() for r in provider.requests)
    assert f"str {size} {len(lines)}" in seen  # the model saw what its code printed
    for line in rng.sample(lines, 300) + lines[:3] + lines[-3:]:
        assert line not in seen
    assert "row 0000" not in seen
    assert len(seen) < 40_000


@pytest.mark.parametrize(
    ("fault", "env"),
    [
        (FakeReply(fault="rate_limit", retry_after=1), {}),
        (FakeReply(fault="server_error", status=503), {}),
        (FakeReply(fault="malformed", text="a reply that breaks"), {}),
        (FakeReply(fault="cut_stream", text="a long reply that will be cut off midway " * 4), {}),
        (FakeReply(fault="stall"), {"RLM_REQUEST_TIMEOUT": "1"}),
    ],
    ids=["429-retry-after", "503", "malformed", "cut-stream", "stall"],
)
def test_each_fault_is_retried_and_the_turn_recovers(rlm, script, fault, env):
    stamps: list[float] = []

    def stamped(reply):
        def answer(request):
            stamps.append(time.monotonic())
            return reply

        return answer

    script.on(system_contains=ROOT_SYSTEM, replies=[stamped(fault), stamped("The answer is 4.")])
    done, out = rlm.ask_json("What is 2 + 2?", **env)
    assert done.returncode == 0, done.stderr
    assert out["answer"] == "The answer is 4."
    assert "retry 1" in done.stderr
    if fault.fault == "rate_limit":
        assert stamps[1] - stamps[0] >= 1.0  # Retry-After honoured


def test_when_retries_run_out_the_turn_fails_clearly_and_keeps_its_record(rlm, script):
    script.on(system_contains=ROOT_SYSTEM, reply=FakeReply(fault="server_error"))
    done, out = rlm.ask_json("Hello?", RLM_MAX_RETRIES="2")
    assert done.returncode == 1
    assert out["status"] == "failed" and out["answer"] is None
    assert "after 3 attempts" in out["error"] and "HTTP 500" in out["error"]
    assert "Traceback" not in done.stderr
    shown = rlm("sessions", "show", out["session_id"])
    assert shown.returncode == 0 and "failed" in shown.stdout


def test_a_missing_key_is_one_line_naming_the_variable(rlm):
    variable, model = (
        ("ANTHROPIC_API_KEY", "anthropic/claude-sonnet-5-5")
        if rlm.path == "anthropic"
        else ("OPENAI_API_KEY", "openai/gpt-4o")
    )
    done = rlm("ask", "hello", **{variable: None})
    assert done.returncode == 2
    assert done.stderr == f"rlm: set {variable} to use {model}\n"


def test_a_bad_model_name(rlm, script):
    script.on(model="no-such-model", reply=FakeReply(status=404, text="model: no-such-model not found"))
    provider_name = "anthropic" if rlm.path == "anthropic" else "openai"
    done = rlm("ask", "hello", "--model", f"{provider_name}/no-such-model")
    assert done.returncode == 2
    assert "does not know this model" in done.stderr and "Traceback" not in done.stderr
    malformed = rlm("ask", "hello", "--model", "gpt4")
    assert malformed.returncode == 2 and "provider/model" in malformed.stderr


def test_question_from_stdin_and_a_long_one_goes_to_context(rlm_anthropic, script, provider):
    script.on(system_contains=ROOT_SYSTEM, replies=[repl("FINAL(str(len(context)))"), "short answer"])
    question = "Summarise: " + "the quick brown fox " * 1000
    done = rlm_anthropic("ask", "-", input=question)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(question))
    first = root_requests(provider)[0].last_user()
    assert "it is in `context`" in first and len(first) < 3000
    short = rlm_anthropic("ask", "-", input="hi there")
    assert short.stdout.strip() == "short answer"


def test_usage_errors_exit_2(rlm_anthropic, tmp_path):
    assert rlm_anthropic("ask").returncode == 2
    missing = rlm_anthropic("ask", "q", "--file", str(tmp_path / "absent.txt"))
    assert (
        missing.returncode == 2
        and missing.stderr == f"rlm: --file {tmp_path / 'absent.txt'}: no such file or folder\n"
    )
    assert rlm_anthropic("ask", "q", "--max-depth", "deep").returncode == 2


def test_a_sandbox_that_cannot_start_is_one_line_and_exit_1(rlm_anthropic, tmp_path):
    done = rlm_anthropic("ask", "hi", RLM_SANDBOX="bubblewrap", PATH=str(tmp_path / "no-bwrap-here"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert done.stderr.startswith("rlm: ") and "bubblewrap" in done.stderr
    sessions = rlm_anthropic("sessions", "list", "--json")
    assert json.loads(sessions.stdout) == []  # a session that never opened leaves nothing behind


def test_an_unknown_session_and_a_bad_turn_are_usage_errors(rlm_anthropic):
    done = rlm_anthropic("ask", "hi", "--session", "nope")
    assert done.returncode == 2 and done.stderr.startswith("rlm: no session 'nope'")
    forked = rlm_anthropic("sessions", "fork", "nope", "--turn", "1")
    assert forked.returncode == 2 and "Traceback" not in forked.stderr
