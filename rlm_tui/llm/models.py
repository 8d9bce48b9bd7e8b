"""Model names: which provider a name routes to, and which key it needs before any call is made."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Providers whose key is a plain environment variable (any one of the names will do).
KEY_VARS: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
    "cohere": ("COHERE_API_KEY",),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY",),
    "perplexity": ("PERPLEXITYAI_API_KEY",),
}
# Local servers that take no key.
KEYLESS = frozenset({"ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio", "llamafile", "openai_like"})


def provider_of(model: str) -> str:
    return model.split("/", 1)[0] if "/" in model else ""


def problem_with(model: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A one-line reason this model cannot be used as configured, or None if it can."""
    environ = os.environ if environ is None else environ
    if "/" not in model or not all(model.split("/", 1)):
        return (
            f"model names look like provider/model (for example anthropic/claude-sonnet-5-5 or "
            f"openai/gpt-4o); got {model!r}"
        )
    provider = provider_of(model)
    if provider in KEY_VARS:
        names = KEY_VARS[provider]
        if not any(environ.get(n) for n in names):
            alternatives = f" (or {' or '.join(names[1:])})" if len(names) > 1 else ""
            return f"set {names[0]}{alternatives} to use {model}"
        return None
    if provider in KEYLESS:
        return None
    from rlm_tui.llm.litellm_client import import_litellm

    litellm = import_litellm()
    if provider not in litellm.provider_list:
        return f"unknown provider {provider!r} in model {model!r}"
    try:
        missing = litellm.validate_environment(model).get("missing_keys") or []
    except Exception:
        return None
    keys = [k for k in missing if "KEY" in k or "TOKEN" in k]
    if keys and not any(environ.get(k) for k in keys):
        return f"set {keys[0]} to use {model}"
    return None
