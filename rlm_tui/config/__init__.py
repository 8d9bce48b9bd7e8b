"""Configuration: defaults < TOML file < RLM_* environment variables < command-line flags.

``RLM_HOME``, when set, holds all of rlm-tui's config and data (``$RLM_HOME/config.toml``, the
session database, session folders); otherwise platformdirs' config and data folders are used.
Each value remembers where it came from, for ``rlm config``.

The settings themselves (types, defaults, bounds, choices) are declared once, in
``config.settings.Config``; the layers are pydantic-settings sources in ``config.sources``. Both
are imported by ``load`` only, so a command that wants no config pays nothing for pydantic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm_tui.errors import ConfigError

if TYPE_CHECKING:
    from rlm_tui.config.settings import Config

__all__ = [
    "APP",
    "SAME_AS_MODEL",
    "UI_STATE",
    "Config",
    "ConfigError",
    "config_path",
    "configured_theme",
    "data_dir",
    "describe",
    "home",
    "load",
    "picked_theme",
    "remember",
    "remembered",
]

APP = "rlm-tui"


def __getattr__(name: str) -> Any:
    """``Config`` is imported when first asked for: it needs pydantic, which the commands that
    only want a path (``rlm sessions``, the theme files) do without."""
    if name == "Config":
        from rlm_tui.config.settings import Config

        return Config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def home() -> Path | None:
    value = os.environ.get("RLM_HOME")
    return Path(value).expanduser() if value else None


def config_path() -> Path:
    if (base := home()) is not None:
        return base / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def data_dir() -> Path:
    if (base := home()) is not None:
        return base
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def load(
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    flag_names: dict[str, str] | None = None,
) -> Config:
    """Build the effective config. ``flags`` holds command-line values (None means not given);
    ``flag_names`` the flag each came from, for messages. Each layer is validated on its own, so a
    bad value is reported where it is even when a higher layer overrides it."""
    from rlm_tui.config.settings import Config
    from rlm_tui.config.sources import Environment, Flags, TomlFile

    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in (
        TomlFile(Config, config_path()),
        Environment(Config, environ),
        Flags(Config, flags or {}, flag_names or {}),
    ):
        for name, value in layer.checked().items():
            values[name] = value
            # a higher layer's value replaces a lower one's whole (the models' tables too)
            for key in [key for key in sources if key == name or key.startswith(name + ".")]:
                del sources[key]
            sources.update(layer.origins(name, value))
    config = Config(**values)
    config.sources.update(sources)
    _sub_model_follows_root(config)
    _honour_provider_env(config, environ)
    return config


SAME_AS_MODEL = "same as model"


def _sub_model_follows_root(config: Config) -> None:
    """A root model the user chose, with no sub-model, serves the sub-calls too: same model, same
    endpoint, same key. (Only the default pair is two models: a large and a small one of one
    provider.)"""
    if config.source("model") == "default" or config.source("sub_model") != "default":
        return
    config.sub_model = config.model
    config.sources["sub_model"] = SAME_AS_MODEL
    if config.sub_api_base is None and config.api_base is not None:
        config.sub_api_base = config.api_base
        config.sources["sub_api_base"] = SAME_AS_MODEL


def _honour_provider_env(config: Config, environ: dict[str, str]) -> None:
    """ANTHROPIC_BASE_URL points anthropic/* models elsewhere when no api base was set by us."""
    base = environ.get("ANTHROPIC_BASE_URL")
    if not base:
        return
    for model_field, base_field in (("model", "api_base"), ("sub_model", "sub_api_base")):
        if getattr(config, base_field) is None and getattr(config, model_field).startswith("anthropic/"):
            setattr(config, base_field, base)
            config.sources[base_field] = "env ANTHROPIC_BASE_URL"


UI_STATE = "ui-state.json"  # what the app remembers between runs (the theme picked in it)


def remembered(key: str) -> Any:
    import json

    try:
        return json.loads((data_dir() / UI_STATE).read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def configured_theme(config: Config) -> str | None:
    """The theme the config file or environment names (None when it is the default)."""
    return config.theme if config.source("theme") != "default" else None


def picked_theme(config: Config) -> str | None:
    """The theme last picked in the app, unless the config file or environment has named another
    since: a pick remembers the configured theme it overrode."""
    configured = configured_theme(config)
    picked = remembered("theme")
    if picked and remembered("theme_configured") == configured:
        return picked
    return configured or picked


def remember(key: str, value: Any) -> None:
    import json

    path = data_dir() / UI_STATE
    try:
        state = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        state = {}
    state[key] = value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state))
    except OSError:
        pass  # an unwritable data folder costs the user only the memory of the choice


def describe(config: Config) -> list[tuple[str, str, str]]:
    """(name, value, source) rows for ``rlm config``; a row for each value in a model's table
    (``models."openai/x".context_window``)."""
    from rlm_tui.config.settings import MODELS, model_key

    rows = []
    for name in type(config).model_fields:
        value, source = getattr(config, name), config.source(name)
        if name == MODELS:
            entries = [
                (model_key(model, field), str(item), config.source(model_key(model, field)))
                for model, limits in value.items()
                for field, item in limits
                if item is not None
            ]
            rows.extend(entries or [(name, "(none)", source)])
            continue
        if name == "theme" and (picked := picked_theme(config)) and picked != value:
            value, source = picked, f"picked in the app, {data_dir() / UI_STATE}"
        if name == "sub_api_base" and value is None and config.api_base and _same_provider(config):
            value, source = config.api_base, "api_base: the sub-model has the root model's provider"
        rows.append((name, "(unset)" if value is None else str(value), source))
    return rows


def _same_provider(config: Config) -> bool:
    return config.model.split("/", 1)[0] == config.sub_model.split("/", 1)[0]
