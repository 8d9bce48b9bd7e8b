"""One pool's calls (see ``deployments``) through litellm's Router, as a ``LiteLLMBackend`` whose
request goes to the Router instead of ``litellm.acompletion``: the stream, the usage and the
classification of what fails are the litellm client's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlm_tui.llm.base import ModelRequest
from rlm_tui.llm.deployments import Pool
from rlm_tui.llm.failures import ProviderFailure
from rlm_tui.llm.litellm_client import LiteLLMBackend


class DeploymentsBackend(LiteLLMBackend):
    """One pool's calls through a litellm Router of its deployments (and its fallbacks' pools).

    The Router is built at the first call, once litellm is imported. It retries a call on another
    deployment until each has had one try, then on the fallback pools; what still fails goes through
    our failure classification and our retry loop (which backs off and tries them all again), as
    any litellm call does."""

    def __init__(self, pool: Pool, pools: Mapping[str, Pool], *, timeout: float) -> None:
        super().__init__(api_base=None, timeout=timeout)
        self.pool = pool
        self._pools = [pool, *(pools[name] for name in pool.fallbacks if name in pools)]
        self._router: Any = None

    def router(self, litellm: Any) -> Any:
        """The litellm Router, built once."""
        if self._router is None:
            self._router = litellm.Router(
                model_list=[
                    {"model_name": pool.name, "litellm_params": deployment.params()}
                    for pool in self._pools
                    for deployment in pool.deployments
                ],
                routing_strategy=self.pool.routing,
                num_retries=len(self.pool.deployments) - 1,
                allowed_fails=self.pool.allowed_fails,
                cooldown_time=self.pool.cooldown_seconds,
                fallbacks=[{self.pool.name: list(self.pool.fallbacks)}] if self.pool.fallbacks else [],
                timeout=self.timeout,
            )
        return self._router

    def _kwargs(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        kwargs = super()._kwargs(request, stream=stream)
        kwargs.pop("num_retries", None)  # the Router's own, over the deployments
        return kwargs

    async def _complete(self, litellm: Any, kwargs: dict[str, Any]) -> Any:
        try:
            router = self.router(litellm)
        except Exception as exc:  # a model list litellm refuses
            raise ProviderFailure(
                "error", f"{self.pool.name}: litellm refused its deployments ({exc})"
            ) from None
        return await router.acompletion(**kwargs)

    def _answered_by(self, response: Any) -> str | None:
        """The deployment's own model (``openai/gpt-4o-mini``), which the Router names in the
        response: the call is priced as that model, the pool's name having no price."""
        hidden = getattr(response, "_hidden_params", None)
        model = hidden.get("litellm_model_name") if isinstance(hidden, dict) else None
        return model if isinstance(model, str) and model else None
