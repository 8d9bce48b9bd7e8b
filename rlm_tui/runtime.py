"""Putting the pieces together from a Config: the model router, engine settings, checks that fail
fast with one clear line (a missing key, a malformed model name) before any work starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rlm_tui.config import Config, ConfigError, data_dir


def check_models(config: Config, environ: Mapping[str, str] | None = None) -> None:
    from rlm_tui.llm.models import problem_with

    seen = set()
    for model in (config.model, config.sub_model):
        if model in seen:
            continue
        seen.add(model)
        problem = problem_with(model, environ)
        if problem:
            raise ConfigError(problem)


def make_router(config: Config):  # -> ModelRouter
    from rlm_tui.llm.retry import RetryPolicy
    from rlm_tui.llm.router import ModelRouter

    return ModelRouter(
        api_base=config.api_base,
        sub_api_base=config.sub_api_base,
        root_model=config.model,
        policy=RetryPolicy(max_retries=config.max_retries, base_delay=config.retry_base_delay),
        timeout=config.request_timeout,
    )


def session_dir(session_id: str) -> Path:
    path = data_dir() / "sessions" / session_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def preload_litellm(config: Config) -> None:
    """Start importing litellm in a thread when a model needs it: its import takes seconds."""
    if all(m.startswith("anthropic/") for m in (config.model, config.sub_model)):
        return
    import threading

    from rlm_tui.llm.litellm_client import import_litellm

    threading.Thread(target=import_litellm, name="import-litellm", daemon=True).start()
