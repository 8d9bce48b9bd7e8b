"""A Config turned into working parts: the engine's settings, the model router, the data folders,
and checks that fail fast with one clear line (a missing key, a malformed model name) before any
work starts."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm_tui.config import data_dir
from rlm_tui.errors import ConfigError

if TYPE_CHECKING:
    from rlm_tui.config import Config

DB_FILE = "sessions.db"


def engine_settings(config: Config) -> Any:  # -> EngineSettings
    from rlm_tui.engine.settings import EngineSettings, Limits
    from rlm_tui.sandbox.settings import SandboxSettings

    return EngineSettings(
        root_model=config.model,
        sub_model=config.sub_model,
        limits=Limits(
            max_iterations=config.max_iterations,
            max_depth=config.max_depth,
            max_sub_calls=config.max_sub_calls,
            max_cost_usd=config.max_cost_usd,
            max_seconds=config.max_seconds,
            cell_timeout=config.cell_timeout,
            max_concurrency=config.max_concurrency,
        ),
        sandbox=SandboxSettings(
            output_cap_chars=config.output_cap_chars,
            model_output_chars=config.model_output_chars,
            memory_bytes=config.memory_limit_mb << 20,
            max_processes=config.max_processes,
            scratch_bytes=config.scratch_mb << 20,
            big_file_bytes=config.big_file_mb << 20,
            light_children=config.light_children,
            isolation=config.sandbox,
        ),
        max_output_tokens=config.max_output_tokens,
        max_cells_per_reply=config.max_cells_per_reply,
        reply_output_chars=config.reply_output_chars,
    )


def check_models(config: Config, environ: Mapping[str, str] | None = None) -> None:
    from rlm_tui.llm import deployments
    from rlm_tui.llm.models import problem_with

    mapped = pools(config)
    for model in dict.fromkeys((config.model, config.sub_model)):
        pool = mapped.get(model)  # a name for deployments: each of their keys
        problem = deployments.problem_with(pool, environ) if pool else problem_with(model, environ)
        if problem:
            raise ConfigError(problem)


def model_problem(model: str) -> str | None:
    from rlm_tui.llm.models import problem_with

    return problem_with(model)


def make_router(config: Config) -> Any:  # -> ModelRouter
    """The model client, with the windows and output limits the config sets (each model's own
    table, the flat settings for every other model), each with where it was set."""
    from rlm_tui.config.settings import model_key
    from rlm_tui.llm.limits import Configured, ConfiguredLimits, Setting
    from rlm_tui.llm.retry import RetryPolicy
    from rlm_tui.llm.router import ModelRouter

    def said(key: str) -> str:  # file /x/config.toml:12 -> config file:12
        origin = config.source(key)
        if origin.startswith("file "):
            line = origin.rsplit(":", 1)[-1]
            return f"config file:{line}" if line.isdigit() else "config file"
        return origin

    def limits(window: int | None, output: int | None, window_key: str, output_key: str) -> Configured:
        return Configured(
            None if window is None else Setting(window, said(window_key)),
            None if output is None else Setting(output, said(output_key)),
        )

    configured = ConfiguredLimits(
        default=limits(
            config.context_window, config.max_output_tokens, "context_window", "max_output_tokens"
        ),
        models={
            model: limits(
                table.context_window,
                table.max_output_tokens,
                model_key(model, "context_window"),
                model_key(model, "max_output_tokens"),
            )
            for model, table in config.models.items()
        },
    )
    return ModelRouter(
        api_base=config.api_base,
        sub_api_base=config.sub_api_base,
        root_model=config.model,
        policy=RetryPolicy(max_retries=config.max_retries, base_delay=config.retry_base_delay),
        timeout=config.request_timeout,
        limits=configured,
        prefetch=True,  # the root model's endpoint is asked while the session opens
        pools=pools(config),
    )


def pools(config: Config) -> dict[str, Any]:  # -> {name: llm.deployments.Pool}
    """The model names the config maps to several deployments (``[[models."x".deployments]]``)."""
    from rlm_tui.config.settings import model_key
    from rlm_tui.llm import deployments as d

    found = {}
    for model, table in config.models.items():
        if not table.deployments:
            continue
        for name in table.fallbacks or ():
            if not config.models.get(name) or not config.models[name].deployments:
                raise ConfigError(
                    f"{model_key(model, 'fallbacks')}: {name} has no deployments "
                    f'(a fallback is another [[models."provider/name".deployments]] name)'
                )
        found[model] = d.Pool(
            model,
            tuple(d.Deployment(**dict(deployment)) for deployment in table.deployments),
            routing=table.routing or d.SHUFFLE,
            allowed_fails=d.ALLOWED_FAILS if table.allowed_fails is None else table.allowed_fails,
            cooldown_seconds=d.COOLDOWN_SECONDS if table.cooldown_seconds is None else table.cooldown_seconds,
            fallbacks=tuple(table.fallbacks or ()),
        )
    return found


def preload_clients(config: Config, *, wait: bool = False) -> None:
    """Import the provider SDKs the configured models need (litellm's import takes seconds): in a
    thread, so the caller goes on, unless ``wait``."""

    def load() -> None:
        from rlm_tui.llm import pricing
        from rlm_tui.llm.routes import ANTHROPIC, LITELLM, OPENAI, route_of

        used = {route_of(m) for m in (config.model, config.sub_model)}
        pricing.load_table()
        if ANTHROPIC in used:
            import anthropic  # noqa: F401
        if OPENAI in used:
            import openai  # noqa: F401
        if LITELLM in used:  # only for a provider that needs it: its import takes seconds
            from rlm_tui.llm.litellm_client import import_litellm

            import_litellm()

    if wait:
        load()
    else:
        threading.Thread(target=load, name="import-clients", daemon=True).start()


def sessions_root() -> Path:
    """Where every session's own folder lives."""
    return data_dir() / "sessions"


def session_dir(session_id: str) -> Path:
    path = sessions_root() / session_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def locks_root() -> Path:
    """Where the one-writer-per-session locks live (outside every sandbox's view)."""
    return data_dir() / "locks"


def store_path() -> Path:
    return data_dir() / DB_FILE


def open_store() -> Any:  # -> Store
    from rlm_tui.store.sessions import Store

    return Store(store_path())
