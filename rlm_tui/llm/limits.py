"""Every model's context window and output limit, each said with where it came from.

Each value on its own, the first found wins (``resolve``):

1. the config: the model's own table (``[models."openai/smollm2"]``), or, for a model without one,
   the flat ``context_window`` and ``max_output_tokens``;
2. for a model with an API base, what the endpoint itself says (``Endpoint``; asked by
   ``endpoints.probe``). The server running the model knows its real window; litellm's map knows
   only a model's name (an alias such as ``gpt-4o-mini`` on a local llama.cpp server would be taken
   for OpenAI's);
3. litellm's model map (not asked for the output limit of a model a local server identified, nor
   for a model no map can know: see ``routes.uses_litellms_map``);
4. unknown (llama-cpp-python's own server reports no window).

A window a server names in an error is ``learn``t by the router and wins over all of these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from rlm_tui.llm import litellm_loader, pricing
from rlm_tui.llm.base import ModelLimits
from rlm_tui.llm.routes import uses_litellms_map

LITELLM = "litellm's model map"
LEARNED = "learned from the server's error"
UNKNOWN = "unknown"


# ------------------------------------------------------------------------------ what was found


@dataclass(frozen=True)
class Setting:
    """A limit the user set, and where: ``config file:12``, ``env RLM_CONTEXT_WINDOW``."""

    value: int
    source: str


@dataclass(frozen=True)
class Configured:
    """One model's limits as configured (None: not set)."""

    context_window: Setting | None = None
    max_output_tokens: Setting | None = None


@dataclass(frozen=True)
class ConfiguredLimits:
    """The config's limits: each model's own table, and the flat settings for the others."""

    default: Configured = Configured()
    models: Mapping[str, Configured] = field(default_factory=dict)

    def of(self, model: str) -> Configured:
        """A model with a table of its own takes its limits from that table alone."""
        return self.models.get(model, self.default)


@dataclass(frozen=True)
class Resolved:
    """A model's limits with where each came from, in words a user understands."""

    context_window: int | None = None
    window_source: str = UNKNOWN
    max_output_tokens: int | None = None
    output_source: str = UNKNOWN
    # False: an endpoint that should have been asked did not answer; ask it again later
    settled: bool = field(default=True, compare=False)

    @property
    def limits(self) -> ModelLimits:
        """The engine's view; its source says where the window came from."""
        source = self.window_source if self.context_window is not None else UNKNOWN
        configured = self.output_source not in (LITELLM, UNKNOWN)
        return ModelLimits(self.context_window, self.max_output_tokens, source, configured)


@dataclass(frozen=True)
class Endpoint:
    """What a server said about itself and the model."""

    window: int | None = None
    source: str = UNKNOWN
    server: str | None = None  # llama.cpp | vllm | ollama | None (did not say)
    model_id: str | None = None  # the server's own id of the model, from /v1/models
    answered: bool = False  # any probe got an HTTP answer


# ------------------------------------------------------------------------------ resolution


async def resolve(
    model: str,
    configured: Configured,
    endpoint: Callable[[], Awaitable[Endpoint]] | None,
) -> Resolved:
    """The model's limits: config, then the endpoint (``endpoint`` is None for a model without an
    API base), then litellm's map."""
    window, window_source = _setting(configured.context_window)
    output, output_source = _setting(configured.max_output_tokens)
    settled, identified = True, False
    if window is None and endpoint is not None:
        said = await endpoint()
        settled, identified = said.answered, said.server is not None
        if said.window is not None:
            window, window_source = said.window, said.source
    if (window is None or (output is None and not identified)) and uses_litellms_map(model):
        mapped_window, mapped_output = await litellm_limits(model)
        if window is None and mapped_window is not None:
            window, window_source = mapped_window, LITELLM
        if output is None and mapped_output is not None and not identified:
            output, output_source = mapped_output, LITELLM
    return Resolved(window, window_source, output, output_source, settled)


def _setting(setting: Setting | None) -> tuple[int | None, str]:
    return (setting.value, setting.source) if setting is not None else (None, UNKNOWN)


async def litellm_limits(model: str) -> tuple[int | None, int | None]:
    """(window, output limit) from litellm's model map, awaiting litellm's import off the loop."""
    try:
        await litellm_loader.get()
    except Exception:  # litellm cannot be imported: its map is not there
        return None, None
    return pricing.context_window(model), pricing.max_output_tokens(model)
