"""Every setting, declared once: its type, default, bounds, choices and what it is for.

``Config(**values)`` validates the values given and nothing else (it reads no file and no
environment); ``rlm_tui.config.load`` builds the effective config from the layers. Only ``load``
and the modules that take a loaded config import this one: pydantic takes some 70 ms to import,
which ``rlm --help`` and ``rlm sessions`` do without.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, StringConstraints
from pydantic_core import PydanticKnownError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def _no_bool(error: Literal["int_type", "float_type"]) -> BeforeValidator:
    """pydantic reads ``true`` as 1; a count or a limit that is a yes/no is a mistake."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticKnownError(error)
        return value

    return BeforeValidator(check)


def _unset(value: Any) -> Any:
    """An optional setting is unset by an empty value, "none" or "null" (an environment variable
    cannot be absent on purpose, and TOML has no null)."""
    if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
        return None
    return value


Whole = Annotated[int, _no_bool("int_type")]
Number = Annotated[float, _no_bool("float_type")]
Unset = BeforeValidator(_unset)
# provider/name, as every model is named (the key of a model's own table)
ModelName = Annotated[str, StringConstraints(pattern=r"^[^/\s]+/\S+$")]

MODELS = "models"  # the setting that holds each model's own table


# litellm Router's routing strategies a model's deployments may be spread by
Routing = Literal["simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing-v2"]
DEPLOYMENTS = "deployments"  # a model's list of deployments, in its own table


class DeploymentSettings(BaseModel):
    """One deployment a model name stands for: ``[[models."team/fast".deployments]]``. Its key is
    named, never written in the file: ``api_key_env`` is the environment variable that holds it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    model: ModelName = Field(description="the provider's model name, provider/name (openai/gpt-4o-mini)")
    api_base: Annotated[str | None, Unset] = Field(None, description="where this deployment answers")
    api_key_env: Annotated[str | None, Unset] = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="the environment variable holding its key"
    )
    rpm: Annotated[Whole | None, Unset] = Field(None, ge=1, description="requests a minute it takes")
    tpm: Annotated[Whole | None, Unset] = Field(None, ge=1, description="tokens a minute it takes")
    weight: Annotated[Number | None, Unset] = Field(None, gt=0, description="its share of the calls")
    order: Annotated[Whole | None, Unset] = Field(
        None, ge=1, description="1 is tried first; a higher order only when the lower ones fail"
    )


class ModelSettings(BaseModel):
    """One model's own limits: ``[models."openai/smollm2"]`` in the config file. A model with a table
    takes its limits from it alone; the flat ``context_window`` and ``max_output_tokens`` are for the
    others (the root model included, unless it has a table). With ``deployments``, the name stands
    for those deployments, and its calls are spread over them (``llm.deployments``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    context_window: Annotated[Whole | None, Unset] = Field(
        None, ge=1, description="tokens of one call of this model, prompt and reply together"
    )
    max_output_tokens: Annotated[Whole | None, Unset] = Field(
        None, ge=1, description="tokens of one reply of this model"
    )
    deployments: tuple[DeploymentSettings, ...] | None = Field(
        None, min_length=1, description="deployments this name's calls are spread over (litellm's Router)"
    )
    routing: Routing | None = Field(None, description="how calls are spread (default simple-shuffle)")
    allowed_fails: Annotated[Whole | None, Unset] = Field(
        None, ge=0, description="failures a minute before a deployment is cooled down (default 3)"
    )
    cooldown_seconds: Annotated[Number | None, Unset] = Field(
        None, ge=0, description="how long a failing deployment gets no calls (default 30)"
    )
    fallbacks: tuple[ModelName, ...] | None = Field(
        None, description="other names with deployments, tried when all of this one's fail"
    )


def deployment_key(model: str, index: int, field: str | None = None) -> str:
    """One deployment of a model, or one value of it, as messages and ``Config.sources`` name it:
    ``models."team/fast".deployments[0]`` (counted from 0, in the order of the file)."""
    return f"{model_key(model, DEPLOYMENTS)}[{index}]" + (f".{field}" if field else "")


def model_key(model: str, field: str | None = None) -> str:
    """How one model's table, or one value in it, is named in messages and ``Config.sources``:
    ``models."openai/smollm2".context_window``."""
    quoted = '"' + model.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{MODELS}.{quoted}" + (f".{field}" if field else "")


class Config(BaseSettings):
    """The effective settings, each attribute a setting; ``sources`` says where each came from
    (a setting not in it is the default)."""

    model_config = SettingsConfigDict(
        env_prefix="RLM_",
        extra="forbid",
        allow_inf_nan=False,  # inf or nan would switch a limit off without a word
        validate_assignment=True,  # /model sets model and sub_model on the live config
    )

    model: str = Field("anthropic/claude-sonnet-5-5", min_length=1, description="root model, provider/name")
    sub_model: str = Field(
        "anthropic/claude-haiku-5-5", min_length=1, description="model for llm_query sub-calls and child RLMs"
    )
    api_base: Annotated[str | None, Unset] = Field(
        None, description="API base URL for the root model (Ollama, vLLM, a proxy)"
    )
    sub_api_base: Annotated[str | None, Unset] = Field(
        None, description="API base URL for the sub-model (default: api_base, for the root model's provider)"
    )
    max_iterations: Whole = Field(30, ge=1, description="root-model replies per turn")
    max_depth: Whole = Field(2, ge=1, description="deepest recursion of rlm_query")
    max_sub_calls: Whole = Field(500, ge=0, description="llm_query/rlm_query calls per turn, all depths")
    max_cost_usd: Annotated[Number | None, Unset] = Field(None, ge=0, description="cost per turn, in USD")
    max_seconds: Annotated[Number | None, Unset] = Field(None, ge=0.1, description="wall time per turn")
    cell_timeout: Number = Field(120.0, ge=0.1, description="seconds a REPL cell may run")
    max_concurrency: Whole = Field(16, ge=1, description="sub-calls in flight per model")
    max_retries: Whole = Field(4, ge=0, description="retries of a failed model call")
    retry_base_delay: Number = Field(1.0, ge=0, description="seconds before the first retry (then doubling)")
    request_timeout: Number = Field(600.0, ge=0.1, description="seconds a model call may take")
    max_output_tokens: Annotated[Whole | None, Unset] = Field(
        None, ge=1, description="output tokens per model reply (unset: the provider's default)"
    )
    context_window: Annotated[Whole | None, Unset] = Field(
        None,
        ge=1,
        description="tokens of one call, prompt and reply together, of every model without a table of "
        "its own (unset: from litellm's model map or the endpoint)",
    )
    models: dict[ModelName, ModelSettings] = Field(
        default_factory=dict,
        description='limits of one model: [models."provider/name"] with context_window, max_output_tokens',
    )
    output_cap_chars: Whole = Field(10_000_000, ge=1000, description="characters of a cell's output kept")
    model_output_chars: Whole = Field(
        20_000, ge=200, description="characters of a cell's output the model sees (head and tail)"
    )
    max_cells_per_reply: Whole = Field(20, ge=1, description="code blocks run from one model reply")
    reply_output_chars: Whole = Field(
        60_000, ge=200, description="characters of all of one reply's cell output the model sees"
    )
    memory_limit_mb: Whole = Field(8192, ge=64, description="memory of the REPL worker's whole tree, in MiB")
    max_processes: Whole = Field(64, ge=1, description="processes the REPL worker's tree may hold")
    scratch_mb: Whole = Field(
        4096, ge=1, description="disk a session's REPL folder may use, and its largest file, in MiB"
    )
    big_file_mb: Whole = Field(
        64, ge=1, description="an attached text file larger than this (MiB) is read from disk on demand"
    )
    light_children: bool = Field(
        True, description="child RLMs' workers started by their parent's worker, inside its sandbox"
    )
    session_wait: Number = Field(
        5.0,
        ge=0,
        le=3600,
        description="seconds a turn waits for a session another rlm process is using, then gives up",
    )
    theme: str = Field("rlm-dark", min_length=1, description="colour theme of the app")
    sandbox: Literal["auto", "bubblewrap", "process"] = Field(
        "auto", description="isolation of the REPL: auto (bubblewrap where it works), bubblewrap or process"
    )

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The values given only: ``load`` reads the file and the environment itself, one layer at a
        # time, to know where each value (and each bad one) came from.
        return (init_settings,)

    @property
    def sources(self) -> dict[str, str]:
        return self._sources

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")
