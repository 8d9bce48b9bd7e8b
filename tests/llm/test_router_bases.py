"""Which endpoint each call goes to: the root's, the sub-model's, or the provider's default."""

from __future__ import annotations

from rlm_tui.llm.base import Message, ModelRequest
from rlm_tui.llm.router import ModelRouter

ROOT = "http://root.test/v1"
SUB = "http://sub.test/v1"


def _request(model: str, depth: int) -> ModelRequest:
    return ModelRequest(model=model, messages=[Message("user", "hi")], depth=depth)


def test_the_sub_api_base_wins_when_set():
    router = ModelRouter(api_base=ROOT, sub_api_base=SUB, root_model="openai/x")
    assert router.base_for(_request("openai/x", 0)) == ROOT
    assert router.base_for(_request("openai/y", 1)) == SUB


def test_without_a_sub_api_base_the_root_provider_keeps_the_root_api_base():
    router = ModelRouter(api_base=ROOT, root_model="openai/x")
    assert router.base_for(_request("openai/y", 1)) == ROOT
    assert router.base_for(_request("openai/y", 2)) == ROOT
    # Another provider never gets the root's endpoint (nor would the root's key go there).
    assert router.base_for(_request("anthropic/claude-haiku-5-5", 1)) is None


def test_the_root_model_is_learnt_from_its_own_calls():
    router = ModelRouter(api_base=ROOT)
    assert router.base_for(_request("hosted_vllm/big", 0)) == ROOT
    assert router.base_for(_request("hosted_vllm/small", 1)) == ROOT
    assert router.base_for(_request("openai/y", 1)) is None
