"""Prices from pydantic's ``genai-prices`` table (tiered prices, cache reads and writes at their own
rates), loaded once, in a tenth of a second, and ~0.05 ms a call; context windows and output limits
from litellm's public model info (``limits`` asks for them only where litellm's map can know the
model: see ``routes.uses_litellms_map``).

A model the table has no price for costs ``None`` ("unknown"), never 0.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from rlm_tui.llm import litellm_loader
from rlm_tui.llm.background import BackgroundImport
from rlm_tui.llm.base import Usage

# our provider names (litellm's) -> the price table's
TABLE_PROVIDERS = {
    "gemini": "google",
    "vertex_ai": "google",
    "xai": "x-ai",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "bedrock": "aws",
}
_unpriced: set[tuple[str, str]] = set()  # (provider, model) the table does not know


def preload() -> None:
    """Start importing litellm in the background (once), for the limits in its model map."""
    litellm_loader.start()


def split(model: str) -> tuple[str | None, str]:
    """``provider/name`` as litellm's ``custom_llm_provider`` and model name."""
    if "/" in model:
        provider, name = model.split("/", 1)
        return provider or None, name
    return None, model


def _import_prices() -> Any:
    import genai_prices

    return genai_prices


# not installed, or broken: every price is unknown
_table = BackgroundImport("import-prices", _import_prices)


def load_table() -> Future[Any]:
    """Start importing the price table (genai-prices, bundled: no network) in a background thread,
    once: a tenth of a second that would otherwise stall the event loop when the first reply ends."""
    return _table.start()


def _prices() -> Any:
    """genai-prices, blocking until it is imported."""
    return load_table().result()


def _provider_and_name(model: str) -> tuple[str, str] | None:
    provider, name = split(model)
    if provider is None:
        return None
    return TABLE_PROVIDERS.get(provider, provider), name


def known(model: str) -> bool:
    """The price table knows ``model`` (a hosted model, not one served locally under a name)."""
    found = _provider_and_name(model)
    if found is None or found in _unpriced:
        return False
    try:
        _prices().data_snapshot.get_snapshot().find_provider_model(found[1], None, found[0], None)
    except LookupError:
        _unpriced.add(found)
        return False
    return True


def cost_usd(model: str, usage: Usage, raw: Any = None) -> float | None:
    """The price of one call, or None when the table has no price for the model (never a silent 0).
    ``raw`` (an SDK's own usage record) is not needed: ``usage`` says all the table prices."""
    try:
        prices = _prices()
    except Exception:
        return None
    return _cost(prices, model, usage)


def _cost(prices: Any, model: str, usage: Usage) -> float | None:
    found = _provider_and_name(model)
    if found is None or found in _unpriced:
        return None
    billed = prices.Usage(
        # the table's input tokens count the cache reads and writes, given again on their own
        input_tokens=usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    try:
        price = prices.calc_price(billed, model_ref=found[1], provider_id=found[0])
    except LookupError:  # not in the table: remembered, since finding that out scans all of it
        _unpriced.add(found)
        return None
    except ValueError:  # no price that applies
        return None
    return float(price.total_price)


async def cost_usd_async(model: str, usage: Usage, raw: Any = None) -> float | None:
    """``cost_usd``, awaiting the table's import without blocking the event loop."""
    try:
        prices = await _table.get()
    except Exception:
        return None
    return _cost(prices, model, usage)


async def priced(model: str, usage: Usage, raw: Any = None) -> Usage:
    """``usage`` with its cost filled in."""
    return replace(usage, cost_usd=await cost_usd_async(model, usage, raw))


def _model_info(litellm: Any, provider: str | None, name: str) -> dict[str, Any] | None:
    try:
        return dict(litellm.get_model_info(model=name, custom_llm_provider=provider))
    except Exception:  # not in litellm's map
        return None


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
