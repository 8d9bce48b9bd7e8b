"""Configuration: defaults < TOML file < RLM_* environment variables < command-line flags.

``RLM_HOME``, when set, holds all of rlm-tui's config and data (``$RLM_HOME/config.toml``, the
session database, session folders); otherwise platformdirs' config and data folders are used.
Each value remembers where it came from, for ``rlm config``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.errors import ConfigError

APP = "rlm-tui"


@dataclass
class Config:
    model: str = "anthropic/claude-sonnet-5-5"
    sub_model: str = "anthropic/claude-haiku-5-5"
    api_base: str | None = None
    sub_api_base: str | None = None
    max_iterations: int = 30
    max_depth: int = 2
    max_sub_calls: int = 500
    max_cost_usd: float | None = None
    max_seconds: float | None = None
    cell_timeout: float = 120.0
    max_concurrency: int = 16
    max_retries: int = 4
    retry_base_delay: float = 1.0
    request_timeout: float = 600.0
    max_output_tokens: int | None = None
    output_cap_chars: int = 10_000_000
    model_output_chars: int = 20_000
    memory_limit_mb: int = 8192
    max_processes: int = 64
    theme: str = "rlm-dark"
    sandbox: str = "auto"  # auto (bubblewrap where it works) | bubblewrap | process
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def engine_settings(self) -> Any:
        from rlm_tui.engine.settings import EngineSettings, Limits
        from rlm_tui.sandbox.settings import SandboxSettings

        return EngineSettings(
            root_model=self.model,
            sub_model=self.sub_model,
            limits=Limits(
                max_iterations=self.max_iterations,
                max_depth=self.max_depth,
                max_sub_calls=self.max_sub_calls,
                max_cost_usd=self.max_cost_usd,
                max_seconds=self.max_seconds,
                cell_timeout=self.cell_timeout,
                max_concurrency=self.max_concurrency,
            ),
            sandbox=SandboxSettings(
                output_cap_chars=self.output_cap_chars,
                model_output_chars=self.model_output_chars,
                memory_bytes=self.memory_limit_mb << 20,
                max_processes=self.max_processes,
                isolation=self.sandbox,
            ),
            max_output_tokens=self.max_output_tokens,
        )


FIELDS = {f.name: f for f in dataclasses.fields(Config) if f.name != "sources"}
_TYPES: dict[str, tuple[type, bool]] = {}  # name -> (base type, optional)
for _name, _field in FIELDS.items():
    _hint = str(_field.type)
    _base = {"str": str, "int": int, "float": float}[_hint.split(" | ")[0]]
    _TYPES[_name] = (_base, "None" in _hint)


# The smallest value that makes sense; below it a setting would hang or break the app.
MINIMUM: dict[str, float] = {
    "max_iterations": 1,
    "max_depth": 1,
    "max_sub_calls": 0,
    "cell_timeout": 0.1,
    "max_concurrency": 1,
    "max_retries": 0,
    "retry_base_delay": 0,
    "request_timeout": 0.1,
    "max_output_tokens": 1,
    "output_cap_chars": 1000,
    "model_output_chars": 200,
    "memory_limit_mb": 64,
    "max_processes": 1,
    "max_cost_usd": 0,
    "max_seconds": 0.1,
}
CHOICES: dict[str, tuple[str, ...]] = {"sandbox": ("auto", "bubblewrap", "process")}


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


def _coerce(name: str, raw: Any, where: str) -> Any:
    base, optional = _TYPES[name]
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none", "null") and optional):
        if optional:
            return None
        raise ConfigError(f"{where}: {name} needs a value")
    try:
        if base is str:
            if not isinstance(raw, str):
                raise TypeError
            if name in CHOICES and raw not in CHOICES[name]:
                raise ConfigError(f"{where}: {name} must be one of {', '.join(CHOICES[name])}, not {raw!r}")
            return raw
        if base is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise TypeError
            value = int(raw)
        else:
            if isinstance(raw, bool):
                raise TypeError
            value = float(raw)
    except (TypeError, ValueError):
        kind = {str: "text", int: "a whole number", float: "a number"}[base]
        raise ConfigError(f"{where}: {name} must be {kind}, not {raw!r}") from None
    if value < MINIMUM.get(name, 0):
        raise ConfigError(f"{where}: {name} must be at least {MINIMUM.get(name, 0):g}, not {raw!r}")
    return value


def _line_of(text: str, key: str, section: str | None = None) -> int | None:
    """The line of ``key = ...`` inside its own ``[section]`` (None: the top, before any header),
    so the same key in two sections is found where it is. Lines inside a multi-line array are
    values, never headers."""
    header = re.compile(r"^[ \t]*\[+[ \t]*([^\]]*?)[ \t]*\]+[ \t]*(#.*)?$")
    assignment = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=")
    current: str | None = None
    open_brackets = 0  # of a value that goes on over several lines
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        if open_brackets > 0:
            open_brackets += code.count("[") - code.count("]")
            continue
        if match := header.match(line):
            current = match.group(1).strip("\"'")
            continue
        if current == section and assignment.match(line):
            return number
        if "=" in code:
            open_brackets = max(0, code.count("[") - code.count("]"))
    return None


def _read_file(path: Path) -> dict[str, tuple[Any, str]]:
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    values: dict[str, tuple[Any, str]] = {}
    for section, content in data.items():
        table = section if isinstance(content, dict) else None
        items = content.items() if isinstance(content, dict) else [(section, content)]
        for key, value in items:
            line = _line_of(text, key, table)
            where = f"{path}, line {line}" if line else str(path)
            if key not in FIELDS:
                known = ", ".join(sorted(FIELDS))
                raise ConfigError(f"{where}: unknown setting {key!r} (known: {known})")
            values[key] = (_coerce(key, value, where), f"file {path}" + (f":{line}" if line else ""))
    return values


def load(
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    flag_names: dict[str, str] | None = None,
) -> Config:
    """Build the effective config. ``flags`` holds command-line values (None means not given);
    ``flag_names`` the flag each came from, for messages."""
    environ = dict(os.environ if environ is None else environ)
    config = Config()
    layers: list[dict[str, tuple[Any, str]]] = [_read_file(config_path())]
    env_layer = {}
    for name in FIELDS:
        var = f"RLM_{name.upper()}"
        if var in environ:
            env_layer[name] = (_coerce(name, environ[var], f"environment variable {var}"), f"env {var}")
    layers.append(env_layer)
    flag_layer = {}
    for name, value in (flags or {}).items():
        if value is not None:
            flag = (flag_names or {}).get(name, f"--{name.replace('_', '-')}")
            flag_layer[name] = (_coerce(name, value, flag), "flag")
    layers.append(flag_layer)
    for layer in layers:
        for name, (value, source) in layer.items():
            setattr(config, name, value)
            config.sources[name] = source
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
    """(name, value, source) rows for ``rlm config``."""
    rows = []
    for name in FIELDS:
        value, source = getattr(config, name), config.source(name)
        if name == "theme" and (picked := picked_theme(config)) and picked != value:
            value, source = picked, f"picked in the app, {data_dir() / UI_STATE}"
        if name == "sub_api_base" and value is None and config.api_base and _same_provider(config):
            value, source = config.api_base, "api_base: the sub-model has the root model's provider"
        rows.append((name, "(unset)" if value is None else str(value), source))
    return rows


def _same_provider(config: Config) -> bool:
    return config.model.split("/", 1)[0] == config.sub_model.split("/", 1)[0]
