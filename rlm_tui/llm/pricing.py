"""Prices, context windows and output limits, all from litellm: its own cost function (tiered prices,
cache reads and writes billed as each provider bills them) and its public model info.

litellm is imported in a background thread as soon as a model client is built (``preload``):
``cost_usd_async`` waits for it without blocking the event loop, the synchronous functions block
until it is there. A model litellm has no per-token price for costs ``None`` ("unknown"), never 0.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rlm_tui.llm import litellm_loader
from rlm_tui.llm.base import Usage


def preload() -> None:
    """Start importing litellm in the background (once), so that it is there when a call ends."""
    litellm_loader.start()


def split(model: str) -> tuple[str | None, str]:
    """``provider/name`` as litellm's ``custom_llm_provider`` and model name."""
    if "/" in model:
        provider, name = model.split("/", 1)
        return provider or None, name
    return None, model


def litellm_usage(litellm: Any, usage: Usage) -> Any:
    """Our usage in the shape litellm's own provider adapters report it: prompt tokens that count the
    cache reads and writes, with the reads and writes also given on their own."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return litellm.Usage(
        prompt_tokens=prompt,
        completion_tokens=usage.output_tokens,
        total_tokens=prompt + usage.output_tokens,
        cache_read_input_tokens=usage.cache_read_tokens,
        cache_creation_input_tokens=usage.cache_write_tokens,
    )


def cost_usd(model: str, usage: Usage, raw: Any = None) -> float | None:
    """The price of one call, or None when litellm has no price for the model (never a silent 0).

    ``raw`` is litellm's own usage record of the call when there is one (calls made through litellm):
    it is priced as it is, with every detail litellm keeps. Blocks until litellm is imported."""
    try:
        litellm = litellm_loader.load()
    except Exception:  # litellm cannot be imported: no price can be known
        return None
    return _cost(litellm, model, usage, raw)


async def cost_usd_async(model: str, usage: Usage, raw: Any = None) -> float | None:
    """``cost_usd``, waiting for litellm's import without blocking the event loop."""
    try:
        litellm = await litellm_loader.get()
    except Exception:
        return None
    return _cost(litellm, model, usage, raw)


async def priced(model: str, usage: Usage, raw: Any = None) -> Usage:
    """``usage`` with its cost filled in."""
    return replace(usage, cost_usd=await cost_usd_async(model, usage, raw))


def _cost(litellm: Any, model: str, usage: Usage, raw: Any) -> float | None:
    provider, name = split(model)
    info = _model_info(litellm, provider, name)
    if info is None or not _priced_per_token(litellm, info):
        return None
    billed = raw if raw is not None else litellm_usage(litellm, usage)
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=name,
            custom_llm_provider=provider,
            prompt_tokens=billed.prompt_tokens or 0,
            completion_tokens=billed.completion_tokens or 0,
            usage_object=billed,
        )
    except Exception:  # litellm has no price it can apply to this model
        return None
    return float(prompt_cost) + float(completion_cost)


def _model_info(litellm: Any, provider: str | None, name: str) -> dict[str, Any] | None:
    try:
        return dict(litellm.get_model_info(model=name, custom_llm_provider=provider))
    except Exception:  # not in litellm's map
        return None


def _priced_per_token(litellm: Any, info: dict[str, Any]) -> bool:
    """False for the few models litellm prices only by the second or the session (provisioned
    throughput): their cost per token would come out as a silent 0."""
    entry = litellm.model_cost.get(info.get("key") or "")
    if not isinstance(entry, dict):
        return True  # let litellm's cost function decide
    return any(entry.get(f) is not None for f in ("input_cost_per_token", "output_cost_per_token"))


def model_info(model: str, *, wait: bool = True) -> dict[str, Any] | None:
    """litellm's public model info for ``provider/name``, or None when it does not know the model.

    With ``wait=False`` it never waits for litellm's import: None while litellm is still loading."""
    if wait:
        try:
            litellm = litellm_loader.load()
        except Exception:
            return None
    else:
        litellm = litellm_loader.loaded()
        if litellm is None:
            return None
    return _model_info(litellm, *split(model))


def context_window(model: str) -> int | None:
    """Input tokens the model accepts, or None when unknown."""
    info = model_info(model)
    window = (info.get("max_input_tokens") or info.get("max_tokens")) if info else None
    return int(window) if window else None


def max_output_tokens(model: str, *, wait: bool = True) -> int | None:
    """Output tokens the model can write in one reply, or None when unknown (or, with
    ``wait=False``, while litellm is still loading)."""
    info = model_info(model, wait=wait)
    value = info.get("max_output_tokens") if info else None
    return int(value) if value else None
