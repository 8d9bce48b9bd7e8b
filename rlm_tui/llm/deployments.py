"""A model name that stands for several deployments (keys, endpoints, providers), its calls spread
over them through litellm's Router.

Why litellm's Router and not a balancer of our own: it already weighs deployments by their rate
limits, picks by latency or usage when asked, cools a failing deployment down and retries a call on
another one, and is tested by its users at a scale we are not. What is ours is around it: the pools
come from the config file (``[[models."team/fast".deployments]]``), keys are named by their
environment variables (``os.environ/NAME``, resolved by litellm, so a key is never in our objects or
printed), litellm is imported only when such a name is called, and what finally fails is named by
our own classification (``LiteLLMBackend._failure``) and retried by ``retry`` like any call.

This module is the pools as configured (no import of any client); ``deployments_backend`` calls them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SHUFFLE = "simple-shuffle"
ALLOWED_FAILS = 3  # failures a minute before a deployment is cooled down
COOLDOWN_SECONDS = 30.0


@dataclass(frozen=True)
class Deployment:
    """One place a pool's calls may go: the provider's model name, where, with which key."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None  # the variable's name; its value is read by litellm at the call
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    order: int | None = None

    def params(self) -> dict[str, Any]:
        """litellm's ``litellm_params`` for this deployment."""
        params: dict[str, Any] = {"model": self.model}
        if self.api_base:
            params["api_base"] = self.api_base
        if self.api_key_env:
            params["api_key"] = f"os.environ/{self.api_key_env}"
        for name in ("rpm", "tpm", "weight", "order"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        return params


@dataclass(frozen=True)
class Pool:
    """A model name and the deployments its calls are spread over."""

    name: str
    deployments: tuple[Deployment, ...]
    routing: str = SHUFFLE
    allowed_fails: int = ALLOWED_FAILS
    cooldown_seconds: float = COOLDOWN_SECONDS
    fallbacks: tuple[str, ...] = ()  # other pools' names, tried when this one's deployments all fail


def problem_with(pool: Pool, environ: Mapping[str, str] | None = None) -> str | None:
    """A one-line reason this pool cannot be called as configured (a key variable not set)."""
    environ = os.environ if environ is None else environ
    for index, deployment in enumerate(pool.deployments):
        if deployment.api_key_env and not environ.get(deployment.api_key_env):
            return f"set {deployment.api_key_env} to use {pool.name} (its deployment {index}, {deployment.model})"
    return None
