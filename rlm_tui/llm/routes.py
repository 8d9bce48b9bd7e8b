"""Which client a model's calls go through, decided from its name alone (no import on the way).

- ``anthropic/*``: the Anthropic SDK.
- OpenAI-compatible endpoints (OpenAI itself, vLLM, llama.cpp, Ollama, OpenRouter, LM Studio,
  llamafile, any ``openai_like`` server): the official ``openai`` SDK (``openai_client``), a light
  client, since these all speak OpenAI's chat completions API.
- every other provider (Gemini, Bedrock, Vertex, Cohere, ...): litellm, whose import takes seconds
  and ~150 MB, so it is only imported when such a model is used.

The OpenAI-compatible providers' default bases and key variables are litellm's conventions for the
same names, so a configuration that worked through litellm works the same here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ANTHROPIC, OPENAI, LITELLM = "anthropic", "openai", "litellm"


def provider_of(model: str) -> str:
    """``openai/gpt-4o`` -> ``openai`` (as ``models.provider_of``, which imports the litellm client
    for its key checks: not from here, which that client's module imports)."""
    return model.split("/", 1)[0] if "/" in model else ""


@dataclass(frozen=True)
class OpenAICompatible:
    """How to reach one OpenAI-compatible provider without litellm."""

    default_base: str | None  # None: an API base must be configured
    key_vars: tuple[str, ...] = ()  # the first one set is the key
    v1: bool = False  # the configured base is the server's root: its OpenAI API is under /v1


COMPATIBLE: dict[str, OpenAICompatible] = {
    "openai": OpenAICompatible("https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    "openrouter": OpenAICompatible("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY", "OR_API_KEY")),
    "hosted_vllm": OpenAICompatible(None, ("HOSTED_VLLM_API_KEY",)),
    "vllm": OpenAICompatible(None, ("HOSTED_VLLM_API_KEY",)),
    "lm_studio": OpenAICompatible("http://localhost:1234/v1", ("LM_STUDIO_API_KEY",)),
    "llamafile": OpenAICompatible("http://localhost:8080/v1", ("LLAMAFILE_API_KEY",)),
    "openai_like": OpenAICompatible(None, ("OPENAI_LIKE_API_KEY", "OPENAI_API_KEY")),
    "ollama": OpenAICompatible("http://localhost:11434", ("OLLAMA_API_KEY",), v1=True),
    "ollama_chat": OpenAICompatible("http://localhost:11434", ("OLLAMA_API_KEY",), v1=True),
}
# What a keyless local server is sent as its key: the SDK insists on one.
NO_KEY = "not-needed"


def route_of(model: str) -> str:
    """``anthropic``, ``openai`` (the light OpenAI-compatible client) or ``litellm``."""
    provider = provider_of(model)
    if provider == "anthropic":
        return ANTHROPIC
    if provider in COMPATIBLE:
        return OPENAI
    return LITELLM


def openai_base(model: str, api_base: str | None) -> str | None:
    """The OpenAI API base for ``model``'s calls: the configured one (with ``/v1`` added for a
    server that serves it there, Ollama), else the provider's default; None when it needs one."""
    compatible = COMPATIBLE[provider_of(model)]
    base = (api_base or compatible.default_base or "").rstrip("/")
    if not base:
        return None
    if compatible.v1 and not base.endswith("/v1"):
        base += "/v1"
    return base


def openai_key(model: str, environ: Mapping[str, str] | None = None) -> str:
    """The API key ``model``'s provider takes from the environment, or a placeholder for a local
    server that takes none."""
    environ = os.environ if environ is None else environ
    for name in COMPATIBLE[provider_of(model)].key_vars:
        if environ.get(name):
            return environ[name]
    return NO_KEY


def served_model(model: str) -> str:
    """The name the server knows the model by: ``openai/gpt-4o`` -> ``gpt-4o``,
    ``openrouter/meta-llama/llama-3-8b`` -> ``meta-llama/llama-3-8b``."""
    return model.split("/", 1)[1]


def uses_litellms_map(model: str) -> bool:
    """Whether litellm's model map is worth importing litellm for ``model``'s limits and token
    counts: it goes through litellm anyway, or it is a hosted model (Anthropic's, or one the price
    table knows, so litellm's map knows it too). A model served locally under a name of its own
    (``openai/smollm2``, ``hosted_vllm/...``) is in no map: asking would cost seconds for nothing."""
    from rlm_tui.llm import pricing

    return route_of(model) != OPENAI or pricing.known(model)
