"""The model client the app uses: routes anthropic/* to the Anthropic SDK and everything else to
litellm, with retries. The root model and the sub-model may each have their own API base; with
only the root's set, a sub-call of the root model's provider uses it too (a key for that endpoint
is never sent to the provider's public one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from rlm_tui.llm import pricing
from rlm_tui.llm.base import Completion, ModelRequest, TextDelta
from rlm_tui.llm.models import provider_of
from rlm_tui.llm.retry import RetryPolicy, stream_with_retries


class ModelRouter:
    def __init__(
        self,
        *,
        api_base: str | None = None,
        sub_api_base: str | None = None,
        root_model: str | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.api_base = api_base
        self.sub_api_base = sub_api_base
        # Given, or learnt from the root model's own calls (every turn starts with one).
        self.root_model = root_model
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self._backends: dict[tuple[str, str | None], Any] = {}
        if root_model is not None and not root_model.startswith("anthropic/"):
            # The root model's calls go through litellm, whose import takes seconds: start it now,
            # in the background. (An Anthropic call starts it itself, once its request is out.)
            pricing.preload()

    def base_for(self, request: ModelRequest) -> str | None:
        """Depth 0 is the root model; sub-calls and child RLMs (depth > 0) use the sub-model's base,
        or, when that is unset, the root's base if they go to the root model's provider."""
        if request.depth == 0:
            self.root_model = request.model
            return self.api_base
        if self.sub_api_base:
            return self.sub_api_base
        if self.root_model is not None and provider_of(request.model) == provider_of(self.root_model):
            return self.api_base
        return None

    def _backend(self, request: ModelRequest) -> Any:
        base = self.base_for(request)
        anthropic = request.model.startswith("anthropic/")
        key = ("anthropic" if anthropic else "litellm", base)
        if key not in self._backends:
            if anthropic:
                from rlm_tui.llm.anthropic_client import AnthropicBackend

                self._backends[key] = AnthropicBackend(api_key=None, base_url=base, timeout=self.timeout)
            else:
                from rlm_tui.llm.litellm_client import LiteLLMBackend

                self._backends[key] = LiteLLMBackend(api_base=base, timeout=self.timeout)
        return self._backends[key]

    def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        backend = self._backend(request)
        return stream_with_retries(lambda: backend.stream(request), request, self.policy)

    def context_window(self, model: str) -> int | None:
        # Asked before sub-calls, which come from the root model's code: its first call has been
        # priced by then, so litellm is imported and this does not wait for it.
        return pricing.context_window(model)
