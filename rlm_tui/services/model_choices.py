"""The models a picker can offer: those the configured endpoint serves and those litellm knows.

litellm's list (its price map: every chat model of every provider, with its window) is read after
litellm's own background import (``llm.litellm_loader``), so the first frame never waits for it.
An endpoint (``api_base``: Ollama, vLLM, llama.cpp, a proxy) is asked ``GET /v1/models`` once,
with a short timeout; one that does not answer lists nothing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

MAX_LISTING_BYTES = 4 << 20  # an endpoint's /v1/models answer we read at most
MAX_MODELS = 5000
MAX_NAME = 200
ENDPOINT_TIMEOUT = 2.0  # seconds the endpoint has to list its models


@dataclass(frozen=True)
class ModelChoice:
    name: str  # as /model takes it: provider/name
    source: str  # "endpoint" or "litellm"
    window: int | None = None  # context window, when known


def litellm_choices(model_cost: dict[str, Any]) -> list[ModelChoice]:
    """Chat models of litellm's map, as provider/name, sorted."""
    out: dict[str, ModelChoice] = {}
    for key, info in model_cost.items():
        if not isinstance(info, dict) or info.get("mode") != "chat":
            continue
        provider = info.get("litellm_provider")
        if not provider:  # an alias or a template entry: no model of its own
            continue
        name = key if "/" in key else f"{provider}/{key}"
        window = info.get("max_input_tokens") or info.get("max_tokens")
        out.setdefault(name, ModelChoice(name, "litellm", window if isinstance(window, int) else None))
    return [out[name] for name in sorted(out)]


def endpoint_choices(listing: Any, provider: str) -> list[ModelChoice]:
    """The ids of an OpenAI-style ``/v1/models`` answer (``{"data": [{"id": ...}]}``)."""
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        return []
    names = [
        e["id"] for e in data[:MAX_MODELS] if isinstance(e, dict) and isinstance(e.get("id"), str) and e["id"]
    ]
    return [ModelChoice(f"{provider}/{n[:MAX_NAME]}", "endpoint") for n in sorted(set(names))]


async def endpoint_models(api_base: str, provider: str) -> list[ModelChoice]:
    """What the endpoint serves; empty when it does not answer (never raises)."""
    import httpx

    from rlm_tui.llm.endpoints import server_root

    async def listing() -> Any:
        async with (
            httpx.AsyncClient(timeout=ENDPOINT_TIMEOUT) as client,
            client.stream("GET", f"{server_root(api_base)}/v1/models") as response,
        ):
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_LISTING_BYTES:  # a server that never stops: not a model list
                    raise ValueError("model listing too large")
            return json.loads(body)

    try:  # the whole answer within the timeout, however slowly the server drips it
        return endpoint_choices(await asyncio.wait_for(listing(), ENDPOINT_TIMEOUT), provider)
    except Exception:  # refused, timed out, too large, not JSON: the endpoint lists nothing
        return []


async def litellm_models() -> list[ModelChoice]:
    from rlm_tui.llm import litellm_loader

    try:
        litellm = await litellm_loader.get()
    except Exception:  # litellm would not import: the picker still has the endpoint's models
        return []
    return await asyncio.to_thread(litellm_choices, dict(litellm.model_cost))


async def model_choices(api_base: str | None, current_model: str) -> list[ModelChoice]:
    """The endpoint's models first (they are what a local server can run), then litellm's."""
    provider = current_model.split("/", 1)[0] if "/" in current_model else "openai"
    served, known = await asyncio.gather(
        endpoint_models(api_base, provider) if api_base else asyncio.sleep(0, []),
        litellm_models(),
    )
    seen = {c.name for c in served}
    return served + [c for c in known if c.name not in seen]
