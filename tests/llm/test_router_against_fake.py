"""The Python API (Session + ModelRouter) against the loopback provider, in process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from rlm_tui.engine.session import Session
from rlm_tui.engine.settings import EngineSettings, Limits
from rlm_tui.llm.retry import RetryPolicy
from rlm_tui.llm.router import ModelRouter
from rlm_tui.sandbox.host import Worker
from tests.cli.conftest import ROOT_SYSTEM, repl
from tests.fakes.provider import FakeProvider, FakeReply, Script

TURNS = [
    "Please note that my cat is called Bartholomew Whiskerton.",
    "How many letters does the name have?",
    "What did I ask you in my second message?",
]


async def test_later_turns_use_history_and_memory_and_never_resend_earlier_text(tmp_path, keys):
    script = Script()
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl(
                "memory['name_length'] = len('Bartholomew Whiskerton'.replace(' ', ''))\nFINAL('Noted, a fine name.')"
            ),
            repl("FINAL(f\"{memory['name_length']} letters\")"),
            repl("FINAL(history[2]['content'])"),
        ],
    )
    with FakeProvider(script) as provider:
        router = ModelRouter(api_base=provider.anthropic_base, sub_api_base=provider.anthropic_base)
        settings = EngineSettings("anthropic/claude-sonnet-5-5", "anthropic/claude-haiku-5-5")
        async with Session(settings, router, repl_factory=Worker, workdir=tmp_path) as session:
            answers, boundaries = [], []
            for message in TURNS:
                boundaries.append(len(provider.requests))
                answers.append((await session.run_turn(message)).answer)
    assert answers == ["Noted, a fine name.", "21 letters", TURNS[1]]
    for turn in (1, 2):  # turns 2 and 3
        for request in provider.requests[boundaries[turn] :]:
            for earlier in range(turn):
                assert TURNS[earlier] not in request.text()
                assert answers[earlier] not in request.text()


async def test_one_concurrency_cap_per_model_across_the_session(tmp_path, keys):
    in_flight = {"now": 0, "most": 0}
    lock = threading.Lock()

    def sub(request):
        with lock:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            # the reply's latency, served in the fake's thread for this request, so that the count
            # goes down before the client can hear the answer and send the next request
            time.sleep(0.15)
        finally:
            _release(lock, in_flight)
        return FakeReply(text="ok")

    script = Script()
    code = "a = llm_query_batched([f'item {i}' for i in range(24)])\nb = llm_query_batched([f'other {i}' for i in range(24)])\nFINAL('done')"
    script.on(system_contains=ROOT_SYSTEM, replies=[repl(code)])
    script.on(contains="item", reply=sub)
    script.on(contains="other", reply=sub)
    with FakeProvider(script) as provider:
        router = ModelRouter(api_base=provider.openai_base, sub_api_base=provider.openai_base)
        settings = EngineSettings("openai/gpt-4o", "openai/gpt-4o-mini", limits=Limits(max_concurrency=4))
        async with Session(settings, router, repl_factory=Worker, workdir=tmp_path) as session:
            result = await session.run_turn("go")
    assert result.answer == "done"
    assert 2 <= in_flight["most"] <= 4


def _release(lock, in_flight):
    with lock:
        in_flight["now"] -= 1


async def test_root_and_sub_model_each_use_their_own_api_base(tmp_path, keys):
    root_script, sub_script = Script(), Script()
    root_script.on(system_contains=ROOT_SYSTEM, replies=[repl("FINAL(llm_query('ping'))")])
    sub_script.on(contains="ping", reply="pong from the sub server")
    with FakeProvider(root_script) as root_server, FakeProvider(sub_script) as sub_server:
        router = ModelRouter(
            api_base=root_server.openai_base,
            sub_api_base=sub_server.openai_base,
            policy=RetryPolicy(max_retries=0),
        )
        settings = EngineSettings("openai/gpt-4o", "openai/gpt-4o-mini")
        async with Session(settings, router, repl_factory=Worker, workdir=tmp_path) as session:
            result = await session.run_turn("go")
    assert result.answer == "pong from the sub server"
    assert [r.model for r in root_server.requests] == ["gpt-4o"]
    assert [r.model for r in sub_server.requests] == ["gpt-4o-mini"]


def test_help_imports_no_heavy_library():
    code = (
        "import sys\nfrom rlm_tui.cli import main\n"
        "for argv in (['--help'], ['ask', '--help'], ['sessions', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('anthropic', 'litellm', 'textual', 'sqlite_utils', 'httpx') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"
