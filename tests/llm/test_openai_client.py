"""The light client for OpenAI-compatible endpoints (the official ``openai`` SDK): which models go
through it, that it names every failure exactly as the litellm client did for the same server, and
that a call through it prices its usage from the price table without litellm."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from rlm_tui.llm.base import Usage
from rlm_tui.llm.failures import ProviderFailure
from rlm_tui.llm.litellm_client import LiteLLMBackend
from rlm_tui.llm.openai_client import OpenAIBackend
from rlm_tui.llm.router import ModelRouter
from rlm_tui.llm.routes import ANTHROPIC, LITELLM, OPENAI, openai_base, route_of
from tests.fakes.provider import FakeProvider, FakeReply, Script
from tests.llm.conftest import collect

pytestmark = pytest.mark.usefixtures("keys")

MODEL = "openai/local-model"


# --------------------------------------------------------------------------- which client


@pytest.mark.parametrize(
    ("model", "route"),
    [
        ("anthropic/claude-sonnet-5-5", ANTHROPIC),
        ("openai/gpt-4o", OPENAI),
        ("hosted_vllm/meta-llama/Llama-3-8B", OPENAI),
        ("ollama/llama3.2", OPENAI),
        ("openrouter/meta-llama/llama-3-8b", OPENAI),
        ("lm_studio/qwen", OPENAI),
        ("gemini/gemini-2.5-pro", LITELLM),
        ("bedrock/anthropic.claude-v2", LITELLM),
    ],
)
def test_each_provider_goes_through_its_client(model: str, route: str) -> None:
    assert route_of(model) == route


def test_an_ollama_root_gets_its_openai_api_under_v1_and_defaults_fill_in() -> None:
    assert openai_base("ollama/llama3.2", "http://box:11434") == "http://box:11434/v1"
    assert openai_base("ollama/llama3.2", "http://box:11434/v1/") == "http://box:11434/v1"
    assert openai_base("ollama/llama3.2", None) == "http://localhost:11434/v1"
    assert openai_base("openai/gpt-4o", None) == "https://api.openai.com/v1"
    assert openai_base("openrouter/x/y", None) == "https://openrouter.ai/api/v1"
    assert openai_base("hosted_vllm/x", None) is None  # a vLLM server has no default address


async def test_the_router_sends_openai_compatible_calls_through_the_sdk_with_the_served_name(
    provider: FakeProvider, script: Script
) -> None:
    script.on(reply=FakeReply(text="hello", input_tokens=7, output_tokens=2))
    router = ModelRouter(api_base=provider.openai_base, root_model="hosted_vllm/org/model-8b")

    outcome = await collect(router, "hosted_vllm/org/model-8b", "hi", system="be brief")

    assert isinstance(router._backend(_request("hosted_vllm/org/model-8b")), OpenAIBackend)
    assert outcome.text == "hello" and outcome.completion is not None
    assert outcome.completion.stop_reason == "stop"
    assert outcome.completion.usage == Usage(7, 2, 0, 0, None)  # a local model: no price, never $0
    sent = provider.requests[-1]
    assert sent.model == "org/model-8b" and sent.stream
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.messages == [{"role": "user", "content": "hi"}] and sent.system == "be brief"


async def test_a_hosted_models_usage_is_priced_from_the_table_with_its_cached_tokens(
    provider: FakeProvider, script: Script
) -> None:
    script.on(reply=FakeReply(text="ok", input_tokens=1000, output_tokens=100, cache_read_tokens=2000))
    backend = OpenAIBackend(base_url=provider.openai_base, api_key="k", timeout=10)

    outcome = await collect(backend, "openai/gpt-4o")

    # gpt-4o: $2.50 in, $1.25 cached, $10 out a million tokens
    expected = 1000 * 2.5e-6 + 2000 * 1.25e-6 + 100 * 10e-6
    assert outcome.completion is not None
    assert outcome.completion.usage == Usage(1000, 100, 2000, 0, pytest.approx(expected))


def _request(model: str) -> Any:
    from rlm_tui.llm.base import Message, ModelRequest

    return ModelRequest(model, [Message("user", "hi")])


# --------------------------------------------------------------------------- failures, as before

FAULTS = {
    "rate limited, with Retry-After": FakeReply(fault="rate_limit", retry_after=3),
    "a server error": FakeReply(fault="server_error", status=503),
    "a bad key": FakeReply(status=401),
    "an unknown model": FakeReply(status=404),
    "a plain bad request": FakeReply(status=400),
    "over the window (llama.cpp)": FakeReply(fault="context_window", window=512, input_tokens=900),
    "over the window (llama-server)": FakeReply(
        fault="context_window", window=512, input_tokens=900, window_shape="llama_server"
    ),
    "overloaded inside the stream": FakeReply(text="half of it and more", fault="stream_error"),
    "rate limited inside the stream": FakeReply(text="half of it", fault="stream_error", status=429),
    "a malformed reply": FakeReply(fault="malformed"),
    "a stream cut short": FakeReply(text="a long reply " * 20, fault="cut_stream"),
    "an empty stream": FakeReply(fault="empty_stream"),
    "no reply in time": FakeReply(fault="stall"),
    "no usage reported": FakeReply(text="fine", report_usage=False),
}


def _said(outcome: Any) -> tuple:
    failure = outcome.failure
    if failure is None:
        assert outcome.completion is not None
        return ("ok", outcome.text, outcome.completion.usage, outcome.completion.stop_reason)
    assert isinstance(failure, ProviderFailure)
    return (
        failure.kind,
        str(failure),
        failure.status,
        failure.retry_after,
        failure.window,
        failure.prompt_tokens,
        failure.fallback is not None,
    )


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_every_failure_is_named_as_the_litellm_client_named_it(fault: str) -> None:
    script = Script()
    script.on(reply=FAULTS[fault])
    with FakeProvider(script) as provider:
        ours = await collect(OpenAIBackend(base_url=provider.openai_base, api_key="k", timeout=1.0), MODEL)
        before = await collect(LiteLLMBackend(api_base=provider.openai_base, timeout=1.0), MODEL)
    assert _said(ours) == _said(before)
    if fault != "no usage reported":
        assert ours.failure is not None


async def test_a_refused_connection_is_named_as_before() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    ours = await collect(OpenAIBackend(base_url=url, api_key="k", timeout=5), MODEL)
    before = await collect(LiteLLMBackend(api_base=url, timeout=5), MODEL)
    assert _said(ours) == _said(before)
    assert ours.failure is not None and ours.failure.kind == "connect"
