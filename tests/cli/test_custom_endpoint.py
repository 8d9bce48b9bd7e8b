"""`rlm ask` against a custom OpenAI-compatible endpoint given by --api-base alone, with models whose
prices litellm does not know: the real litellm path, the loopback provider."""

from __future__ import annotations

from tests.cli.conftest import ROOT_SYSTEM, Rlm, repl

DEAD = "http://127.0.0.1:9/v1"  # where the provider's default endpoint points in these tests


def _ask(rlm: Rlm, *args: str):
    return rlm.ask_json(
        "--model",
        "openai/x",
        "--sub-model",
        "openai/y",
        "--api-base",
        rlm.provider.openai_base,
        *args,
        RLM_API_BASE=None,
        RLM_SUB_API_BASE=None,
        RLM_MODEL=None,
        RLM_SUB_MODEL=None,
        RLM_MAX_RETRIES="0",
        # Were the sub-call sent to the provider's default endpoint, it would fail here, not
        # reach the network.
        OPENAI_BASE_URL=DEAD,
        OPENAI_API_BASE=DEAD,
    )


def test_sub_calls_use_the_root_api_base_for_the_same_provider(tmp_path, provider, script):
    rlm = Rlm(tmp_path / "home", provider, "litellm", {})
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[repl("print(llm_query('what is six times seven?'))"), "FINAL(42)"],
    )
    script.on(contains="six times seven", reply="42")
    done, out = _ask(rlm, "Ask a sub-model.")
    assert done.returncode == 0, done.stderr
    sub = [r for r in provider.requests if "six times seven" in r.last_user()]
    assert len(sub) == 1 and sub[0].model == "y"
    assert out["answer"] == "42" and out["usage"]["calls_by_depth"] == {"0": 2, "1": 1}


def test_an_unenforceable_cost_limit_is_said_and_the_turn_goes_on(tmp_path, provider, script):
    rlm = Rlm(tmp_path / "home", provider, "litellm", {})
    script.on(system_contains=ROOT_SYSTEM, replies=[repl("print(llm_query('hi'))"), "FINAL(done)"])
    script.on(contains="hi", reply="hello")
    done, out = _ask(rlm, "Go.", "--max-cost", "0.01")
    assert done.returncode == 0, done.stderr
    assert out["answer"] == "done" and out["stopped_by"] is None
    assert "rlm: the cost limit ($0.01) cannot be enforced for openai/x: its price is unknown" in done.stderr
    assert "cannot be enforced for openai/y" in done.stderr
    assert done.stderr.count("cannot be enforced") == 2


def test_rlm_config_says_where_sub_calls_go(tmp_path, provider):
    rlm = Rlm(tmp_path / "home", provider, "litellm", {})
    done = rlm("config", "--api-base", provider.openai_base, RLM_SUB_API_BASE=None, RLM_API_BASE=None)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("sub_api_base"))
    assert provider.openai_base in line and "the sub-model has the root model's provider" in line


def test_with_only_the_root_model_set_every_call_goes_to_its_endpoint(tmp_path, provider, script):
    """`--model` and `--api-base`, no sub-model: llm_query and the child RLM of rlm_query use the
    same model at the same endpoint (the provider's default endpoint is dead here)."""
    rlm = Rlm(tmp_path / "home", provider, "litellm", {})
    script.on(contains="child: name the capital of France", reply="FINAL(Paris)")
    script.on(contains="sub: what is six times seven", reply="42")
    script.on(
        system_contains=ROOT_SYSTEM,
        replies=[
            repl(
                "a = llm_query('sub: what is six times seven?')\n"
                "b = rlm_query('child: name the capital of France')\nprint(a, b)"
            ),
            "FINAL(42 and Paris)",
        ],
    )
    done, out = rlm.ask_json(
        "--model", "openai/scripted", "--api-base", provider.openai_base, "Ask a sub-model and a child.",
        RLM_API_BASE=None, RLM_SUB_API_BASE=None, RLM_MODEL=None, RLM_SUB_MODEL=None,
        RLM_MAX_RETRIES="0", OPENAI_BASE_URL=DEAD, OPENAI_API_BASE=DEAD,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out["answer"] == "42 and Paris"
    assert out["usage"]["calls_by_depth"] == {"0": 2, "1": 2}  # the sub-call and the child's reply
    assert len(provider.requests) == 4 and {r.model for r in provider.requests} == {"scripted"}

    config = rlm("config", "--model", "openai/scripted", "--api-base", provider.openai_base,
                 RLM_API_BASE=None, RLM_SUB_API_BASE=None, RLM_MODEL=None, RLM_SUB_MODEL=None)  # fmt: skip
    rows = {line.split()[0]: line for line in config.stdout.splitlines() if line.strip()}
    assert "openai/scripted" in rows["sub_model"] and "(same as model)" in rows["sub_model"]
    assert provider.openai_base in rows["sub_api_base"] and "(same as model)" in rows["sub_api_base"]
