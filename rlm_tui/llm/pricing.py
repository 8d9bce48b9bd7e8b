"""Prices and context windows from litellm's model map.

litellm ships its price map as a JSON file. When litellm is already imported (any non-Anthropic
model), its in-memory ``model_cost`` is used; otherwise the same file is read straight from the
litellm package, so pricing an Anthropic call does not cost litellm's import time. Either way
``LITELLM_LOCAL_MODEL_COST_MAP=True`` keeps litellm from fetching a price list over the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from rlm_tui.llm.base import Usage

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
MAP_FILE = "model_prices_and_context_window_backup.json"


@lru_cache(maxsize=1)
def _file_map() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / MAP_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def price_map() -> dict[str, Any]:
    litellm = sys.modules.get("litellm")
    cost = getattr(litellm, "model_cost", None) if litellm is not None else None
    return cost if isinstance(cost, dict) and cost else _file_map()


def entry(model: str) -> dict[str, Any] | None:
    """The map's entry for ``provider/name`` (tried as given, then without the provider)."""
    table = price_map()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for key in candidates:
        found = table.get(key)
        if isinstance(found, dict) and found.get("input_cost_per_token") is not None:
            return found
    return None


def cost_usd(model: str, usage: Usage) -> float | None:
    """The price of one call, or None when the model's price is unknown (never a silent 0)."""
    found = entry(model)
    if found is None:
        return None
    input_price = float(found.get("input_cost_per_token") or 0.0)
    output_price = float(found.get("output_cost_per_token") or 0.0)
    cache_read = float(found.get("cache_read_input_token_cost", input_price) or 0.0)
    cache_write = float(found.get("cache_creation_input_token_cost", input_price) or 0.0)
    return (
        usage.input_tokens * input_price
        + usage.output_tokens * output_price
        + usage.cache_read_tokens * cache_read
        + usage.cache_write_tokens * cache_write
    )


def context_window(model: str) -> int | None:
    found = entry(model)
    if found is None:
        return None
    window = found.get("max_input_tokens") or found.get("max_tokens")
    return int(window) if window else None


def max_output_tokens(model: str) -> int | None:
    found = entry(model)
    value = found.get("max_output_tokens") if found else None
    return int(value) if value else None
