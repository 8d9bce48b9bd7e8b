"""Each model's window and output limit, and where they came from (the config, the endpoint, litellm's
map, a server's error), and prompts counted in the model's tokens: through the router, against the
loopback fake provider playing llama.cpp, vLLM, Ollama and llama-cpp-python."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from rlm_tui.llm import router as router_module
from rlm_tui.llm.base import Message, estimate_tokens
from rlm_tui.llm.limits import LEARNED, LITELLM, UNKNOWN, Configured, ConfiguredLimits, Setting
from rlm_tui.llm.router import ModelRouter
from rlm_tui.llm.token_counts import litellm_counts_exactly
from tests.fakes.provider import FakeProvider, Script

SMOL = "openai/smollm2"  # a model litellm's map does not know


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(Script()) as running:
        yield running


def _router(base: str | None = None, *, root: str = SMOL, **kwargs) -> ModelRouter:
    return ModelRouter(api_base=base, root_model=root, **kwargs)


def _limits(**models: Configured) -> ConfiguredLimits:
    return ConfiguredLimits(models={name.replace("__", "/"): value for name, value in models.items()})


def _probes(provider: FakeProvider, *paths: str) -> list:
    return [p for p in provider.probes if not paths or p[1] in paths]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------- the config


async def test_a_models_own_table_wins_and_the_flat_settings_serve_the_others(provider):
    provider.props = {"default_generation_settings": {"n_ctx": 4096}}
    configured = ConfiguredLimits(
        default=Configured(Setting(8192, "env RLM_CONTEXT_WINDOW"), Setting(512, "config file:2")),
        models={SMOL: Configured(Setting(2048, "config file:12"), Setting(256, "config file:13"))},
    )
    router = _router(provider.openai_base, limits=configured, sub_api_base=provider.openai_base)
    own = await router.resolve(SMOL)
    assert (own.context_window, own.window_source) == (2048, "config file:12")
    assert (own.max_output_tokens, own.output_source) == (256, "config file:13")
    other = await router.resolve("openai/other")
    assert (other.context_window, other.window_source) == (8192, "env RLM_CONTEXT_WINDOW")
    assert (other.max_output_tokens, other.output_source) == (512, "config file:2")
    # a configured window needs no probe
    assert provider.probes == []
    limits = await router.limits(SMOL)
    assert (limits.context_window, limits.max_output_tokens, limits.source) == (2048, 256, "config file:12")


async def test_a_table_with_only_an_output_limit_leaves_the_window_to_the_endpoint(provider):
    provider.props = {"default_generation_settings": {"n_ctx": 4096}}
    configured = ConfiguredLimits(
        default=Configured(Setting(9999, "config file:1")),
        models={SMOL: Configured(max_output_tokens=Setting(300, "config file:5"))},
    )
    found = await _router(provider.openai_base, limits=configured).resolve(SMOL)
    assert (found.context_window, found.window_source) == (4096, "the endpoint (llama.cpp /props)")
    assert (found.max_output_tokens, found.output_source) == (300, "config file:5")


async def test_litellms_map_gives_a_known_models_limits():
    found = await _router(root="openai/gpt-4o").resolve("openai/gpt-4o")
    assert found.window_source == LITELLM and found.context_window == 128_000
    assert found.output_source == LITELLM and found.max_output_tokens and found.max_output_tokens > 0


async def test_config_overrides_litellms_map():
    configured = ConfiguredLimits(default=Configured(Setting(1000, "env RLM_CONTEXT_WINDOW")))
    found = await _router(root="openai/gpt-4o", limits=configured).resolve("openai/gpt-4o")
    assert (found.context_window, found.window_source) == (1000, "env RLM_CONTEXT_WINDOW")
    assert found.output_source == LITELLM  # the output limit was not configured


# ---------------------------------------------------------------------------------- the endpoint


async def test_llama_cpp_props_gives_the_window(provider):
    provider.props = {
        "default_generation_settings": {"n_ctx": 512, "params": {"n_predict": -1}},
        "total_slots": 1,
    }
    found = await _router(provider.openai_base).resolve(SMOL)
    assert (found.context_window, found.window_source) == (512, "the endpoint (llama.cpp /props)")
    assert (found.max_output_tokens, found.output_source) == (None, UNKNOWN)


async def test_llama_cpp_v1_models_gives_the_trained_window_when_props_is_not_there(provider):
    provider.model_list = {
        "object": "list",
        "data": [
            {
                "id": "../models/SmolLM2.gguf",
                "object": "model",
                "meta": {"n_ctx_train": 8192, "n_vocab": 49152},
            }
        ],
    }
    found = await _router(provider.openai_base).resolve(SMOL)
    assert (found.context_window, found.window_source) == (
        8192,
        "the endpoint (llama.cpp /v1/models n_ctx_train)",
    )


async def test_llama_cpp_props_wins_over_the_trained_window(provider):
    provider.props = {"default_generation_settings": {"n_ctx": 1024}}
    provider.model_list = {"data": [{"id": "smollm2", "meta": {"n_ctx_train": 8192}}]}
    found = await _router(provider.openai_base).resolve(SMOL)
    assert found.context_window == 1024


async def test_vllm_v1_models_gives_max_model_len(provider):
    provider.model_list = {
        "object": "list",
        "data": [
            {"id": "other", "object": "model", "max_model_len": 32768},
            {
                "id": "meta-llama/Llama-3.2-1B",
                "object": "model",
                "root": "meta-llama/Llama-3.2-1B",
                "max_model_len": 4096,
            },
        ],
    }
    model = "hosted_vllm/meta-llama/Llama-3.2-1B"
    found = await _router(provider.openai_base, root=model).resolve(model)
    assert (found.context_window, found.window_source) == (4096, "the endpoint (vLLM /v1/models)")


OLLAMA_SHOW = {
    "modelfile": "FROM llama3.2",
    "parameters": 'stop "<|eot_id|>"',
    "template": "...",
    "details": {"family": "llama"},
    "model_info": {"general.architecture": "llama", "llama.context_length": 131072, "llama.block_count": 16},
}


async def test_ollama_api_show_gives_the_trained_window(provider):
    provider.ollama_show = OLLAMA_SHOW
    found = await _router(provider.url, root="ollama/llama3.2").resolve("ollama/llama3.2")
    assert (found.context_window, found.window_source) == (131072, "the endpoint (Ollama /api/show)")
    assert _probes(provider, "/api/show")[0][2] == {"model": "llama3.2"}


async def test_ollama_num_ctx_overrides_the_trained_window(provider):
    provider.ollama_show = {**OLLAMA_SHOW, "parameters": 'num_ctx 4096\nstop "<|eot_id|>"'}
    provider.ollama_ps = {
        "models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "context_length": 8192}]
    }
    found = await _router(provider.url, root="ollama/llama3.2").resolve("ollama/llama3.2")
    assert (found.context_window, found.window_source) == (4096, "the endpoint (Ollama /api/show num_ctx)")


async def test_ollama_a_loaded_models_context_comes_before_the_trained_window(provider):
    provider.ollama_show = OLLAMA_SHOW
    provider.ollama_ps = {
        "models": [
            {"name": "qwen2.5:0.5b", "model": "qwen2.5:0.5b", "context_length": 2048},
            {"name": "llama3.2:latest", "model": "llama3.2:latest", "context_length": 8192},
        ]
    }
    found = await _router(provider.url, root="ollama_chat/llama3.2").resolve("ollama_chat/llama3.2")
    assert (found.context_window, found.window_source) == (8192, "the endpoint (Ollama /api/ps)")


async def test_llama_cpp_python_says_no_window_so_it_stays_unknown(provider):
    provider.model_list = {
        "object": "list",
        "data": [{"id": "smollm2", "object": "model", "owned_by": "me", "permissions": []}],
    }
    found = await _router(provider.openai_base).resolve(SMOL)
    assert (found.context_window, found.window_source) == (None, UNKNOWN)
    assert (await _router(provider.openai_base).limits(SMOL)).source == UNKNOWN


async def test_the_endpoint_is_asked_before_litellms_map_and_its_output_limit_is_not_taken(provider):
    """A local server serving a model under a name litellm knows: the server's window is the real one."""
    provider.props = {"default_generation_settings": {"n_ctx": 2048}}
    found = await _router(provider.openai_base, root="openai/gpt-4o-mini").resolve("openai/gpt-4o-mini")
    assert (found.context_window, found.window_source) == (2048, "the endpoint (llama.cpp /props)")
    assert found.max_output_tokens is None


async def test_a_proxy_that_says_nothing_leaves_litellms_map(provider):
    found = await _router(provider.openai_base, root="openai/gpt-4o").resolve("openai/gpt-4o")
    assert (found.context_window, found.window_source) == (128_000, LITELLM)


async def test_the_endpoint_is_asked_once_even_by_callers_at_the_same_time(provider):
    provider.props = {"default_generation_settings": {"n_ctx": 512}}
    router = _router(provider.openai_base)
    found = await asyncio.gather(*(router.limits(SMOL) for _ in range(8)))
    assert {f.context_window for f in found} == {512}
    await router.limits(SMOL)
    assert len(_probes(provider, "/props")) == 1 and len(provider.probes) == 4  # one of each probe
    assert provider.requests == []  # no chat request was made


async def test_the_sub_model_is_asked_at_its_own_endpoint(provider):
    provider.props = {"default_generation_settings": {"n_ctx": 777}}
    router = ModelRouter(
        api_base=f"http://127.0.0.1:{_free_port()}/v1", sub_api_base=provider.openai_base, root_model=SMOL
    )
    assert (await router.limits("openai/sub")).context_window == 777
    assert (await router.limits(SMOL)).context_window is None


async def test_a_dead_endpoint_is_unknown_at_once():
    router = _router(f"http://127.0.0.1:{_free_port()}/v1")
    started = time.monotonic()
    found = await router.resolve(SMOL)
    assert (found.context_window, found.window_source) == (None, UNKNOWN)
    assert time.monotonic() - started < 2.5


async def test_a_server_that_never_answers_costs_only_the_probe_timeout():
    with socket.socket() as listening:  # accepts connections (the backlog) but never answers
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        port = listening.getsockname()[1]
        router = _router(f"http://127.0.0.1:{port}/v1", probe_timeout=0.3)
        started = time.monotonic()
        found = await router.resolve(SMOL)
        assert found.context_window is None
        assert time.monotonic() - started < 1.5


async def test_a_server_that_answered_nothing_is_asked_again_later(monkeypatch):
    connections = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        router = _router(f"http://127.0.0.1:{port}/v1")
        await router.resolve(SMOL)
        first = connections
        assert first >= 4
        await router.resolve(SMOL)
        assert connections == first  # remembered for a while...
        monkeypatch.setattr(router_module, "ASK_AGAIN_AFTER", 0.0)
        router = _router(f"http://127.0.0.1:{port}/v1")
        await router.resolve(SMOL)
        await router.resolve(SMOL)
        assert connections >= 3 * first  # ...and asked again once that while is over
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_that_answered_is_not_asked_again(provider, monkeypatch):
    monkeypatch.setattr(router_module, "ASK_AGAIN_AFTER", 0.0)
    router = _router(provider.openai_base)
    await router.resolve(SMOL)
    await router.resolve(SMOL)
    assert len(provider.probes) == 4


# ---------------------------------------------------------------------------------- learn()


async def test_a_window_learnt_from_a_servers_error_wins_over_everything(provider):
    provider.props = {"default_generation_settings": {"n_ctx": 4096}}
    configured = _limits(
        openai__smollm2=Configured(Setting(8192, "config file:3"), Setting(100, "config file:4"))
    )
    router = _router(provider.openai_base, limits=configured)
    assert (await router.limits(SMOL)).context_window == 8192
    router.learn(SMOL, 512)
    limits = await router.limits(SMOL)
    assert (limits.context_window, limits.max_output_tokens, limits.source) == (512, 100, LEARNED)
    assert (await router.resolve(SMOL)).output_source == "config file:4"


async def test_learn_is_per_endpoint_and_ignores_nonsense(provider):
    router = ModelRouter(api_base=provider.openai_base, root_model=SMOL)
    router.learn(SMOL, 0)
    router.learn(SMOL, True)  # type: ignore[arg-type]
    assert (await router.limits(SMOL)).context_window is None
    router.learn(SMOL, 300, api_base="http://elsewhere.test/v1")
    assert (await router.limits(SMOL)).context_window is None
    router.learn(SMOL, 300, api_base=provider.openai_base + "/")
    assert (await router.limits(SMOL)).context_window == 300


# ---------------------------------------------------------------------------------- token counts


def _words(count: int, word: str = "w") -> str:
    return " ".join([word] * count)


SYSTEM = _words(10, "rules")


async def _count(router: ModelRouter, messages: list[Message], model: str = SMOL):
    return await router.count_tokens(model, SYSTEM, messages)


@pytest.mark.parametrize(
    ("tokenizer", "path"),
    [("llama-cpp-python", "/extras/tokenize/count"), ("llama.cpp", "/tokenize"), ("vllm", "/tokenize")],
)
async def test_the_endpoints_tokenizer_counts_exactly_and_only_new_messages_are_sent(
    provider, tokenizer, path
):
    provider.tokenizer = tokenizer
    if tokenizer == "llama.cpp":
        provider.props = {"default_generation_settings": {"n_ctx": 4096}}
    if tokenizer == "vllm":
        provider.model_list = {"data": [{"id": "smollm2", "max_model_len": 4096}]}
    router = _router(provider.openai_base)
    messages = [Message("user", _words(20))]
    first = await _count(router, messages)
    assert first.exact
    template = first.tokens - 30  # the words: 10 in the system prompt, 20 in the message
    assert 0 < template <= 30
    sent = _probes(provider, path)
    assert len(sent) == 1

    messages += [Message("assistant", _words(7, "reply")), Message("user", _words(5, "output"))]
    second = await _count(router, messages)
    assert second.exact and second.tokens - 42 > template  # 12 more words and two more messages
    sent = _probes(provider, path)
    assert len(sent) == 2
    body = sent[-1][2]
    text = body.get("input") or body.get("content") or body.get("prompt")
    assert "reply" in text and "output" in text and "rules" not in text and "w" not in text.split()

    assert (await _count(router, messages)).tokens == second.tokens  # the same prompt: no request
    assert len(_probes(provider, path)) == 2


async def test_one_count_sends_at_most_one_request(provider):
    provider.tokenizer = "llama-cpp-python"
    router = _router(provider.openai_base)
    await router.limits(SMOL)  # the engine asks for the limits first
    before = len(provider.probes)
    await _count(router, [Message("user", _words(5))])
    assert len(provider.probes) == before + 1


async def test_a_server_without_a_tokenizer_gives_a_generous_estimate_and_is_not_asked_again(provider):
    router = _router(provider.openai_base)
    text = "The quick brown fox jumps over the lazy dog. " * 40
    count = await router.count_tokens(SMOL, None, [Message("user", text)])
    assert not count.exact and count.tokens >= estimate_tokens(text) * 1.15
    tried = len(_probes(provider, "/extras/tokenize/count"))
    assert tried == 1  # tried once: it is not there
    await router.count_tokens(SMOL, None, [Message("user", text + " more")])
    assert len(_probes(provider, "/extras/tokenize/count")) == tried


async def test_ollama_has_no_tokenizer_so_prompts_are_estimated(provider):
    provider.ollama_show = OLLAMA_SHOW
    router = _router(provider.url, root="ollama/llama3.2")
    count = await router.count_tokens("ollama/llama3.2", SYSTEM, [Message("user", _words(50))])
    assert not count.exact
    assert not _probes(provider, "/tokenize") and not _probes(provider, "/extras/tokenize/count")


async def test_a_prompt_far_over_the_window_is_never_sent_to_the_tokenizer(provider):
    provider.tokenizer = "llama.cpp"
    provider.props = {"default_generation_settings": {"n_ctx": 100}}
    router = _router(provider.openai_base)
    count = await _count(router, [Message("user", _words(5000, "word"))])
    assert not count.exact and count.tokens > 1000
    assert _probes(provider, "/tokenize") == []


async def test_a_tokenizer_the_server_turns_out_not_to_have_is_dropped(provider):
    provider.tokenizer = "llama.cpp"
    provider.props = {"default_generation_settings": {"n_ctx": 4096}}
    router = _router(provider.openai_base)
    await router.limits(SMOL)
    provider.tokenizer = None  # /props still answers: the server is llama.cpp, its /tokenize is gone
    assert not (await _count(router, [Message("user", _words(3))])).exact  # 404 now: dropped
    provider.tokenizer = "llama.cpp"
    assert not (await _count(router, [Message("user", _words(4))])).exact  # dropped for good


async def test_litellm_counts_openai_models_exactly_without_the_network():
    router = _router(root="openai/gpt-4o")
    messages = [Message("user", "hello world"), Message("assistant", "hi"), Message("user", "count these")]
    count = await router.count_tokens("openai/gpt-4o", "be brief", messages)
    assert count.exact
    import litellm

    as_dicts = [{"role": "system", "content": "be brief"}, *(m.to_dict() for m in messages)]
    assert count.tokens == litellm.token_counter(model="openai/gpt-4o", messages=as_dicts)


async def test_anthropic_and_unknown_models_are_estimated():
    router = _router(root="anthropic/claude-sonnet-4-5")
    assert not (await router.count_tokens("anthropic/claude-sonnet-4-5", "x", [Message("user", "hi")])).exact
    assert not (await router.count_tokens("openai/smollm2", "x", [Message("user", "hi")])).exact


async def test_which_models_litellm_counts_exactly():
    from rlm_tui.llm import litellm_loader

    litellm = await litellm_loader.get()
    assert litellm_counts_exactly(litellm, "openai/gpt-4o")
    assert litellm_counts_exactly(litellm, "deepseek/deepseek-chat")
    for model in (
        "anthropic/claude-sonnet-4-5",
        "openai/smollm2",
        "hosted_vllm/meta-llama/Llama-3-8B",
        "ollama/llama3",
    ):
        assert not litellm_counts_exactly(litellm, model), model
