"""A model name mapped to several deployments: sub-calls spread over them by litellm's Router.

Three loopback fake providers stand for three deployments of one name: a fast one, a slow one and
one that always fails. Through our router, every call is answered; the failing one is cooled down
(it gets no calls once it has failed a few), the fast one gets more calls than the slow one, and the
usage added up is what the servers reported. The config file declares them and `rlm config` shows
them with their lines, naming each key's variable, never the key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlm_tui.cli import main
from rlm_tui.config import load
from rlm_tui.errors import ConfigError, ProviderError
from rlm_tui.llm import pricing
from rlm_tui.llm.base import Completion, Message, ModelRequest, Usage
from rlm_tui.llm.deployments import Deployment, Pool
from rlm_tui.llm.retry import RetryPolicy
from rlm_tui.llm.router import ModelRouter
from rlm_tui.services.runtime import check_models, make_router
from tests.fakes.provider import FakeProvider, FakeReply, FakeRequest

POOL = "team/fast"
CALLS = 48
IN_TOKENS, OUT_TOKENS = 11, 5


class Served:
    """A responder that answers as one deployment and notes how far the run was at each request."""

    def __init__(self, name: str, delay: float, *, fails: bool = False) -> None:
        self.name, self.delay, self.fails = name, delay, fails
        self.progress: list[int] = []  # calls already answered when each request came
        self.done = lambda: 0

    def __call__(self, request: FakeRequest) -> FakeReply:
        self.progress.append(self.done())
        if self.fails:
            return FakeReply(status=500, text="deployment down")
        return FakeReply(
            text=f"answer from {self.name}",
            delay=self.delay,
            input_tokens=IN_TOKENS,
            output_tokens=OUT_TOKENS,
        )


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, tuple[Served, FakeProvider]]]:
    monkeypatch.setenv("KEY_FAST", "key-fast")
    monkeypatch.setenv("KEY_SLOW", "key-slow")
    monkeypatch.setenv("KEY_DOWN", "key-down")
    monkeypatch.setenv("OPENAI_API_KEY", "root-key")  # the root model's, for check_models
    answering = {
        "fast": Served("fast", 0.01),
        "slow": Served("slow", 0.25),
        "down": Served("down", 0, fails=True),
    }
    with (
        FakeProvider(answering["fast"]) as fast,
        FakeProvider(answering["slow"]) as slow,
        FakeProvider(answering["down"]) as down,
    ):
        yield {
            "fast": (answering["fast"], fast),
            "slow": (answering["slow"], slow),
            "down": (answering["down"], down),
        }


def pool_of(servers: dict[str, tuple[Served, FakeProvider]], **settings: object) -> Pool:
    deployments = tuple(
        Deployment(f"openai/{name}-model", api_base=provider.openai_base, api_key_env=f"KEY_{name.upper()}")
        for name, (_, provider) in servers.items()
    )
    return Pool(POOL, deployments, **settings)  # type: ignore[arg-type]


async def run_batch(router: ModelRouter, calls: int, at_once: int, answered: list[Completion]) -> None:
    """As llm_query_batched does: sub-calls of the pool's name, ``at_once`` in flight."""
    gate = asyncio.Semaphore(at_once)

    async def one(i: int) -> None:
        async with gate:
            request = ModelRequest(POOL, [Message("user", f"item {i}")], purpose="sub", depth=1)
            async for item in router.stream(request):
                if isinstance(item, Completion):
                    answered.append(item)

    try:
        await asyncio.gather(*(one(i) for i in range(calls)))
    finally:
        await router.aclose()


def test_sub_calls_are_spread_over_the_deployments_the_failing_one_cooled_down(servers) -> None:
    router = ModelRouter(
        root_model="openai/root",
        policy=RetryPolicy(max_retries=2, base_delay=0.01),
        timeout=10,
        pools={POOL: pool_of(servers, routing="least-busy", allowed_fails=1, cooldown_seconds=60)},
    )
    answered: list[Completion] = []
    lock = threading.Lock()

    def done() -> int:
        with lock:
            return len(answered)

    for served, _ in servers.values():
        served.done = done
    asyncio.run(run_batch(router, CALLS, 6, answered))

    assert len(answered) == CALLS  # every call answered, the failing deployment's included
    assert all(c.text.startswith("answer from ") and c.stop_reason == "stop" for c in answered)
    counts = {name: len(provider.requests) for name, (_, provider) in servers.items()}
    # the one that fails is cooled down: a few calls at the start, none in the second half
    down = servers["down"][0].progress
    assert 1 <= len(down) <= 8, counts
    assert max(down) < CALLS // 2, down
    # least-busy: the fast one, with fewer calls in flight, is picked more often
    assert counts["fast"] > counts["slow"], counts
    assert counts["fast"] + counts["slow"] == CALLS, counts  # each answered call went to one server once
    # usage is each reply's own, as the servers reported it
    assert sum(c.usage.input_tokens for c in answered) == CALLS * IN_TOKENS
    assert sum(c.usage.output_tokens for c in answered) == CALLS * OUT_TOKENS
    assert not any(c.usage.estimated for c in answered)


def test_shuffle_by_weight_sends_most_calls_to_the_heavier_deployment(servers) -> None:
    _, fast = servers["fast"]
    _, slow = servers["slow"]
    pool = Pool(
        POOL,
        (
            Deployment("openai/a", api_base=fast.openai_base, api_key_env="KEY_FAST", weight=9),
            Deployment("openai/b", api_base=slow.openai_base, api_key_env="KEY_SLOW", weight=1),
        ),
    )
    router = ModelRouter(policy=RetryPolicy(max_retries=0), timeout=10, pools={POOL: pool})
    answered: list[Completion] = []
    servers["slow"][0].delay = 0.0
    asyncio.run(run_batch(router, 60, 8, answered))
    assert len(answered) == 60
    assert len(fast.requests) > 3 * len(slow.requests)  # 9 to 1 expected


def test_a_pool_whose_deployments_all_fail_is_one_clear_provider_error(servers) -> None:
    _, down = servers["down"]
    pool = Pool(POOL, (Deployment("openai/x", api_base=down.openai_base, api_key_env="KEY_DOWN"),))
    router = ModelRouter(policy=RetryPolicy(max_retries=0), timeout=10, pools={POOL: pool})
    with pytest.raises(ProviderError) as caught:
        asyncio.run(run_batch(router, 1, 1, []))
    error = caught.value
    assert error.kind == "server" and error.status == 500
    assert str(error).startswith(f"{POOL}: ") and "\n" not in str(error)
    assert len(down.requests) == 1  # one deployment, tried once; no retry of ours was asked for


def test_order_sends_every_call_to_the_first_until_it_fails(servers) -> None:
    _, fast = servers["fast"]
    _, slow = servers["slow"]
    _, down = servers["down"]
    servers["slow"][0].delay = 0.0

    def run(first: FakeProvider, second: FakeProvider) -> list[Completion]:
        pool = Pool(
            POOL,
            (
                Deployment("openai/a", api_base=second.openai_base, api_key_env="KEY_FAST", order=2),
                Deployment("openai/b", api_base=first.openai_base, api_key_env="KEY_FAST", order=1),
            ),
            allowed_fails=1,
        )
        router = ModelRouter(policy=RetryPolicy(max_retries=0), timeout=10, pools={POOL: pool})
        answered: list[Completion] = []
        asyncio.run(run_batch(router, 12, 4, answered))
        return answered

    assert len(run(slow, fast)) == 12
    assert (len(slow.requests), len(fast.requests)) == (12, 0)  # order 1 takes them all
    answered = run(down, fast)  # order 1 fails: order 2 answers, and the first is cooled down
    assert [c.text for c in answered] == ["answer from fast"] * 12
    assert len(fast.requests) == 12 and 1 <= len(down.requests) <= 6


def test_a_pool_whose_deployments_fail_falls_back_to_another_pool(servers) -> None:
    _, down = servers["down"]
    _, fast = servers["fast"]
    pools = {
        POOL: Pool(
            POOL,
            (Deployment("openai/x", api_base=down.openai_base, api_key_env="KEY_DOWN"),),
            fallbacks=("team/spare",),
        ),
        "team/spare": Pool(
            "team/spare", (Deployment("openai/y", api_base=fast.openai_base, api_key_env="KEY_FAST"),)
        ),
    }
    router = ModelRouter(policy=RetryPolicy(max_retries=0), timeout=10, pools=pools)
    answered: list[Completion] = []
    asyncio.run(run_batch(router, 4, 2, answered))
    assert [c.text for c in answered] == ["answer from fast"] * 4
    assert len(fast.requests) == 4


def test_a_call_is_priced_as_the_deployment_that_answered(servers) -> None:
    """The pool's name has no price; the deployment's model has one, and a cost limit needs it."""
    _, fast = servers["fast"]
    model = "openai/gpt-4o-mini"
    pool = Pool(POOL, (Deployment(model, api_base=fast.openai_base, api_key_env="KEY_FAST"),))
    router = ModelRouter(policy=RetryPolicy(max_retries=0), timeout=10, pools={POOL: pool})
    answered: list[Completion] = []
    asyncio.run(run_batch(router, 3, 3, answered))
    expected = asyncio.run(pricing.priced(model, Usage(input_tokens=IN_TOKENS, output_tokens=OUT_TOKENS)))
    assert expected.cost_usd  # the price table knows this model
    assert [c.usage.cost_usd for c in answered] == [pytest.approx(expected.cost_usd)] * 3


CONFIG = """\
model = "openai/root"
sub_model = "team/fast"

[models."team/fast"]
routing = "latency-based-routing"
cooldown_seconds = 2

[[models."team/fast".deployments]]
model = "openai/fast-model"
api_base = "{fast}"
api_key_env = "KEY_FAST"
rpm = 600

[[models."team/fast".deployments]]
model = "openai/slow-model"
api_base = "{slow}"
api_key_env = "KEY_SLOW"
weight = 0.5
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLM_HOME", str(tmp_path))
    return tmp_path


def test_the_config_file_declares_deployments_and_rlm_config_shows_them(
    servers, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, fast = servers["fast"]
    _, slow = servers["slow"]
    (home / "config.toml").write_text(CONFIG.format(fast=fast.openai_base, slow=slow.openai_base))
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    file = home / "config.toml"
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("models.")}
    first = lines['models."team/fast".deployments[0]']
    assert f"openai/fast-model, at {fast.openai_base}, key from $KEY_FAST, rpm 600" in first
    assert f"(file {file}:8)" in first
    second = lines['models."team/fast".deployments[1]']
    assert "openai/slow-model" in second and "weight 0.5" in second and f"(file {file}:14)" in second
    assert f"(file {file}:5)" in lines['models."team/fast".routing']
    assert "key-fast" not in out and "key-slow" not in out  # keys are never printed

    # the same file, through the app's router: the sub-calls reach both servers
    config = load()
    check_models(config)
    answered: list[Completion] = []
    asyncio.run(run_batch(make_router(config), 8, 4, answered))
    assert len(answered) == 8
    assert len(fast.requests) + len(slow.requests) == 8


def test_a_key_variable_not_set_is_named_before_any_call(
    servers, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "config.toml").write_text(
        CONFIG.format(fast="http://127.0.0.1:9/v1", slow="http://127.0.0.1:9/v1")
    )
    monkeypatch.delenv("KEY_SLOW")
    with pytest.raises(
        ConfigError, match=r"^set KEY_SLOW to use team/fast \(its deployment 1, openai/slow-model\)$"
    ):
        check_models(load())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "colour = 1",
            r'line 14: unknown setting \'colour\' in models."team/fast".deployments\[1\] \(known: ',
        ),
        ("rpm = 0", r'line 14: models."team/fast".deployments\[1\].rpm must be at least 1, not 0'),
        (
            'api_key_env = "sk-123"',
            r"deployments\[1\].api_key_env must be the name of an environment variable",
        ),
    ],
)
def test_a_bad_deployment_is_named_with_its_line(home: Path, line: str, message: str) -> None:
    text = CONFIG.format(fast="http://x/v1", slow="http://y/v1").replace('api_key_env = "KEY_SLOW"', line)
    (home / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load()


def test_a_fallback_without_deployments_is_a_config_error(home: Path) -> None:
    text = CONFIG.format(fast="http://x/v1", slow="http://y/v1").replace(
        "cooldown_seconds = 2", 'cooldown_seconds = 2\nfallbacks = ["openai/plain"]'
    )
    (home / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=r'^models."team/fast".fallbacks: openai/plain has no deployments'):
        make_router(load())
