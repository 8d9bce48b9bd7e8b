"""Config layering (defaults < file < env < flags) and clear messages for bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlm_tui.config import config_path, data_dir, load
from rlm_tui.errors import ConfigError
from rlm_tui.services.runtime import engine_settings

RLM = str(Path(sys.executable).with_name("rlm"))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_HOME", str(tmp_path))
    for name in ("RLM_MODEL", "RLM_SUB_MODEL", "RLM_MAX_COST_USD", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_rlm_home_holds_config_and_data(home):
    assert config_path() == home / "config.toml"
    assert data_dir() == home


def test_layers_rise_from_defaults_to_flags(home, monkeypatch):
    (home / "config.toml").write_text(
        'model = "openai/gpt-4o"\nsub_model = "openai/gpt-4o-mini"\n\n[limits]\nmax_cost_usd = 2.5\nmax_depth = 3\n'
    )
    monkeypatch.setenv("RLM_SUB_MODEL", "anthropic/claude-haiku-5-5")
    monkeypatch.setenv("RLM_MAX_DEPTH", "4")
    config = load({"max_depth": 5, "model": None})
    assert config.model == "openai/gpt-4o" and config.source("model").endswith("config.toml:1")
    assert (
        config.sub_model == "anthropic/claude-haiku-5-5" and config.source("sub_model") == "env RLM_SUB_MODEL"
    )
    assert config.max_cost_usd == 2.5 and config.source("max_cost_usd").endswith(":5")
    assert config.max_depth == 5 and config.source("max_depth") == "flag"
    assert config.max_iterations == 30 and config.source("max_iterations") == "default"


def test_anthropic_base_url_is_honoured_for_anthropic_models(home, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    config = load({"sub_model": "openai/gpt-4o-mini"})
    assert config.api_base == "http://127.0.0.1:9/" and config.source("api_base") == "env ANTHROPIC_BASE_URL"
    assert config.sub_api_base is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "a/b"\nmax_depth = "deep"\n', "line 2: max_depth must be a whole number, not 'deep'"),
        ("model = \n", "not valid TOML"),
        ('model = "a/b"\n\nbudget = 3\n', "line 3: unknown setting 'budget'"),
    ],
)
def test_a_bad_config_file_names_the_line(home, text, message):
    (home / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load()


def test_bad_environment_value_names_the_variable(home, monkeypatch):
    monkeypatch.setenv("RLM_MAX_COST_USD", "lots")
    with pytest.raises(
        ConfigError, match="environment variable RLM_MAX_COST_USD: max_cost_usd must be a number"
    ):
        load()


def test_rlm_config_prints_values_and_sources(home):
    (home / "config.toml").write_text('sub_model = "openai/gpt-4o-mini"\n')
    env = {"RLM_HOME": str(home), "RLM_MAX_ITERATIONS": "12", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [RLM, "config", "--model", "openai/gpt-4o"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "openai/gpt-4o " in lines["model"] and lines["model"].endswith("(flag)")
    assert lines["sub_model"].endswith(f"(file {home / 'config.toml'}:1)")
    assert lines["max_iterations"].endswith("(env RLM_MAX_ITERATIONS)")
    assert f"config file: {home / 'config.toml'}" in done.stdout


def test_a_malformed_config_file_is_one_line_and_exit_2(home):
    (home / "config.toml").write_text("[limits\nmax_depth = 2\n")
    done = subprocess.run([RLM, "config"], capture_output=True, text=True, env={"RLM_HOME": str(home)})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not valid TOML" in done.stderr and "line 1" in done.stderr
    assert "Traceback" not in done.stderr


def test_flags_given_before_a_command_count(home):
    env = {"RLM_HOME": str(home), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [RLM, "--model", "openai/gpt-4o", "config"], capture_output=True, text=True, env=env
    )
    model_line = next(line for line in done.stdout.splitlines() if line.startswith("model "))
    assert "openai/gpt-4o" in model_line and model_line.endswith("(flag)")
    bad = subprocess.run([RLM, "--model", "nonsense", "ask", "hi"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "provider/model" in bad.stderr


def test_a_pipe_closed_early_is_not_an_error(home):
    env = {"RLM_HOME": str(home), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(f"{RLM} config | head -1", shell=True, capture_output=True, text=True, env=env)
    assert (
        done.stdout.startswith("model")
        and "Traceback" not in done.stderr
        and "Broken pipe" not in done.stderr
    )


@pytest.mark.parametrize("where", ["flag", "env", "file"])
def test_a_chosen_root_model_serves_the_sub_calls_too(home, monkeypatch, where):
    flags: dict = {}
    if where == "flag":
        flags = {"model": "openai/gpt-4o", "api_base": "http://127.0.0.1:8/v1"}
    elif where == "env":
        monkeypatch.setenv("RLM_MODEL", "openai/gpt-4o")
        monkeypatch.setenv("RLM_API_BASE", "http://127.0.0.1:8/v1")
    else:
        (home / "config.toml").write_text('model = "openai/gpt-4o"\napi_base = "http://127.0.0.1:8/v1"\n')
    config = load(flags)
    assert (config.sub_model, config.source("sub_model")) == ("openai/gpt-4o", "same as model")
    assert (config.sub_api_base, config.source("sub_api_base")) == ("http://127.0.0.1:8/v1", "same as model")


def test_the_default_pair_and_an_explicit_sub_model_stay_as_set(home, monkeypatch):
    default = load()
    assert default.model != default.sub_model and default.source("sub_model") == "default"
    monkeypatch.setenv("RLM_SUB_MODEL", "openai/gpt-4o-mini")
    config = load({"model": "openai/gpt-4o", "api_base": "http://127.0.0.1:8/v1"})
    assert config.sub_model == "openai/gpt-4o-mini" and config.source("sub_model") == "env RLM_SUB_MODEL"
    assert config.sub_api_base is None  # the router sends same-provider sub-calls to api_base


def _error(home, text: str | bytes) -> str:
    """The one-line message load() gives for this config file."""
    path = home / "config.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as raised:
        load()
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cell_timeout = inf\n", "line 1: cell_timeout must be a finite number, not inf"),
        ("[limits]\nmax_cost_usd = nan\n", "line 2: max_cost_usd must be a finite number, not nan"),
        ("max_seconds = -inf\n", "line 1: max_seconds must be a finite number, not -inf"),
    ],
)
def test_inf_and_nan_in_the_file_are_rejected(home, text, message):
    assert _error(home, text) == f"{home / 'config.toml'}, {message}"


@pytest.mark.parametrize(("var", "value"), [("RLM_CELL_TIMEOUT", "inf"), ("RLM_MAX_COST_USD", "nan")])
def test_inf_and_nan_in_the_environment_are_rejected(home, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    name = var.removeprefix("RLM_").lower()
    with pytest.raises(ConfigError) as raised:
        load()
    assert str(raised.value) == f"environment variable {var}: {name} must be a finite number, not {value!r}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_cost_usd = -1\n", "line 1: max_cost_usd must be at least 0, not -1"),
        ("\n[limits]\ncell_timeout = 0\n", "line 3: cell_timeout must be at least 0.1, not 0"),
        ("session_wait = -5\n", "line 1: session_wait must be at least 0, not -5"),
        ("session_wait = inf\n", "line 1: session_wait must be a finite number, not inf"),
    ],
)
def test_negative_and_zero_limits_in_the_file_are_rejected_with_their_line(home, text, message):
    assert _error(home, text) == f"{home / 'config.toml'}, {message}"


def test_a_binary_config_file_is_one_line_naming_the_file(home):
    message = _error(home, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    assert message.startswith(f"{home / 'config.toml'}: not a text file") and "not UTF-8" in message


def test_an_unreadable_config_file_names_the_file(home):
    (home / "config.toml").mkdir()
    with pytest.raises(ConfigError, match=r"cannot read the config file .*config\.toml"):
        load()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[sandbox]\nsandbox = "docker"\n',
            "line 2: sandbox must be one of auto, bubblewrap, process, not 'docker'",
        ),
        ("cell_timeout = 0.05\n", "line 1: cell_timeout must be at least 0.1, not 0.05"),
        ("[limits]\nmax_sub_calls = -1\nmax_depth = 0\n", "line 2: max_sub_calls must be at least 0, not -1"),
        ("max_depth = true\n", "line 1: max_depth must be a whole number, not True"),
        ("max_output_tokens = 3.5\n", "line 1: max_output_tokens must be a whole number, not 3.5"),
        ("model = 3\n", "line 1: model must be text, not 3"),
        ('model = ""\n', "line 1: model must not be empty"),
        (
            "[limits.more]\nmax_depth = 3\n",
            "line 1: unknown setting 'more' (known: api_base, big_file_mb, cell_timeout,",
        ),
    ],
)
def test_a_bad_value_in_the_file_is_said_in_our_words(home, text, message):
    assert _error(home, text).startswith(f"{home / 'config.toml'}, {message}")


def test_a_value_below_its_minimum_in_the_environment(home, monkeypatch):
    monkeypatch.setenv("RLM_MAX_ITERATIONS", "0")
    with pytest.raises(ConfigError) as raised:
        load()
    assert (
        str(raised.value)
        == "environment variable RLM_MAX_ITERATIONS: max_iterations must be at least 1, not '0'"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"max_depth": 0}, "--max-depth: max_depth must be at least 1, not 0"),
        ({"max_cost_usd": float("nan")}, "--max-cost: max_cost_usd must be a finite number, not nan"),
        ({"max_iterations": "many"}, "--max-iterations: max_iterations must be a whole number, not 'many'"),
        ({"model": ""}, "--model: model must not be empty"),
    ],
)
def test_a_flag_with_a_bad_value_names_the_flag(home, flags, message):
    names = {"max_cost_usd": "--max-cost", "max_depth": "--max-depth", "max_iterations": "--max-iterations"}
    with pytest.raises(ConfigError) as raised:
        load(flags, flag_names={**names, "model": "--model"})
    assert str(raised.value) == message


def test_a_bad_flag_is_one_line_and_exit_2(home):
    env = {"RLM_HOME": str(home), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([RLM, "config", "--model", ""], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--model: model must not be empty" in done.stderr


def test_a_bad_value_is_reported_even_when_a_higher_layer_overrides_it(home):
    (home / "config.toml").write_text('max_depth = "deep"\n')
    with pytest.raises(ConfigError, match="line 1: max_depth must be a whole number, not 'deep'"):
        load({"max_depth": 3})


def test_an_optional_limit_is_unset_by_none_or_an_empty_value(home, monkeypatch):
    (home / "config.toml").write_text("max_cost_usd = 2.5\nmax_seconds = 60\n")
    monkeypatch.setenv("RLM_MAX_COST_USD", "none")
    monkeypatch.setenv("RLM_MAX_SECONDS", "")
    config = load()
    assert config.max_cost_usd is None and config.source("max_cost_usd") == "env RLM_MAX_COST_USD"
    assert config.max_seconds is None and config.source("max_seconds") == "env RLM_MAX_SECONDS"


def test_only_the_upper_case_variable_counts(home):
    config = load(environ={"rlm_max_depth": "5", "RLM_MAX_ITERATIONS": "7"})
    assert config.max_depth == 2 and config.source("max_depth") == "default"
    assert config.max_iterations == 7


def test_the_app_can_switch_models_on_a_loaded_config(home):
    config = load({"model": "openai/gpt-4o"})
    config.sub_model = "openai/gpt-4o-mini"  # what /model does
    config.sources["sub_model"] = "/model"
    assert config.sub_model == "openai/gpt-4o-mini" and config.source("sub_model") == "/model"
    assert engine_settings(config).sub_model == "openai/gpt-4o-mini"


def test_rlm_config_shows_every_kind_of_source(home):
    (home / "config.toml").write_text('theme = "rlm-light"\n[limits]\nmax_depth = 3\n')
    env = {
        "RLM_HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "RLM_MAX_ITERATIONS": "12",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
    }
    done = subprocess.run(
        [RLM, "config", "--model", "anthropic/claude-opus-5"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    path = home / "config.toml"
    assert rows["model"].endswith("(flag)")
    assert rows["sub_model"].endswith("(same as model)") and "anthropic/claude-opus-5" in rows["sub_model"]
    assert rows["max_depth"].endswith(f"(file {path}:3)") and rows["theme"].endswith(f"(file {path}:1)")
    assert rows["max_iterations"].endswith("(env RLM_MAX_ITERATIONS)")
    assert rows["api_base"].endswith("(env ANTHROPIC_BASE_URL)")
    assert rows["cell_timeout"].split()[1] == "120.0" and rows["cell_timeout"].endswith("(default)")
    assert rows["max_cost_usd"].split()[1] == "(unset)"


def test_reading_paths_and_rlm_help_do_not_import_pydantic(home):
    code = (
        "import sys\n"
        "from rlm_tui.config import config_path, data_dir\n"
        "from rlm_tui.cli import main\n"
        "config_path(), data_dir()\n"
        "sys.argv = ['rlm', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert not [m for m in sys.modules if m.startswith('pydantic')], 'pydantic imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ context windows and output limits

MODEL_TABLES = """\
model = "openai/smollm2"
context_window = 8192

[models]
max_depth = 3  # a plain key in [models] is still a flat setting

[models."openai/smollm2"]
context_window = 2048
max_output_tokens = 256

[models."openai/gpt-4.1"]
max_output_tokens = 100
"""


def test_each_model_may_have_its_own_table_with_its_lines(home):
    (home / "config.toml").write_text(MODEL_TABLES)
    config = load()
    path = home / "config.toml"
    assert config.max_depth == 3 and config.context_window == 8192
    assert config.models["openai/smollm2"].context_window == 2048
    assert config.models["openai/smollm2"].max_output_tokens == 256
    assert config.models["openai/gpt-4.1"].context_window is None
    assert config.source('models."openai/smollm2".context_window') == f"file {path}:8"
    assert config.source('models."openai/smollm2".max_output_tokens') == f"file {path}:9"
    assert config.source('models."openai/gpt-4.1".max_output_tokens') == f"file {path}:12"
    assert config.source("context_window") == f"file {path}:2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[models."openai/x"]\ncontext_window = 0\n',
            'line 2: models."openai/x".context_window must be at least 1, not 0',
        ),
        (
            '[models."openai/x"]\nmax_output_tokens = 2.5\n',
            'line 2: models."openai/x".max_output_tokens must be a whole number, not 2.5',
        ),
        (
            '[models."openai/x"]\ncontext_window = true\n',
            'line 2: models."openai/x".context_window must be a whole number, not True',
        ),
        (
            '[models."openai/x"]\ncontext_window = 4096\nwindow = 1\n',
            "line 3: unknown setting 'window' in models.\"openai/x\" (known: allowed_fails, context_window, cooldown_seconds, deployments, fallbacks, max_output_tokens, routing)",
        ),
        (
            "[models.smollm2]\ncontext_window = 4096\n",
            'line 1: models."smollm2": a model\'s table is named provider/name',
        ),
        ("models = 3\n", "line 1: models must be tables"),
        (
            'models."openai/x" = { context_window = -1 }\n',
            'line 1: models."openai/x".context_window must be at least 1',
        ),
        ("context_window = 0\n", "line 1: context_window must be at least 1, not 0"),
    ],
)
def test_a_bad_model_limit_is_one_line_naming_file_and_line(home, text, message):
    assert _error(home, text).startswith(f"{home / 'config.toml'}, {message}")


def test_the_environment_sets_the_flat_window_and_the_tables_as_json(home, monkeypatch):
    (home / "config.toml").write_text(MODEL_TABLES)
    monkeypatch.setenv("RLM_CONTEXT_WINDOW", "16384")
    monkeypatch.setenv("RLM_MODELS", '{"openai/other": {"context_window": 1024}}')
    config = load()
    assert config.context_window == 16384 and config.source("context_window") == "env RLM_CONTEXT_WINDOW"
    # a higher layer's value replaces a lower one's whole: the file's tables are gone, sources too
    assert set(config.models) == {"openai/other"}
    assert config.source('models."openai/other".context_window') == "env RLM_MODELS"
    assert config.source('models."openai/smollm2".context_window') == "default"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "environment variable RLM_MODELS: models must be JSON"),
        (
            '{"openai/x": {"context_window": 0}}',
            'RLM_MODELS: models."openai/x".context_window must be at least 1',
        ),
        ("-3", "environment variable RLM_CONTEXT_WINDOW: context_window must be at least 1, not '-3'"),
    ],
)
def test_a_bad_model_limit_in_the_environment_names_the_variable(home, monkeypatch, value, message):
    monkeypatch.setenv("RLM_CONTEXT_WINDOW" if "RLM_CONTEXT_WINDOW" in message else "RLM_MODELS", value)
    with pytest.raises(ConfigError) as raised:
        load()
    assert message in str(raised.value) and "\n" not in str(raised.value)


async def test_the_router_takes_the_configured_limits_with_their_sources(home, monkeypatch):
    from rlm_tui.services.runtime import make_router

    (home / "config.toml").write_text(MODEL_TABLES)
    monkeypatch.setenv("RLM_MAX_OUTPUT_TOKENS", "512")
    config = load({"sub_model": "openai/gpt-4.1"})
    router = make_router(config)
    own = await router.resolve("openai/smollm2")
    assert (own.context_window, own.window_source) == (2048, "config file:8")
    assert (own.max_output_tokens, own.output_source) == (256, "config file:9")
    # gpt-4.1 has a table: the flat settings are not its; its window comes from litellm's map
    sub = await router.resolve("openai/gpt-4.1")
    assert (sub.max_output_tokens, sub.output_source) == (100, "config file:12")
    assert sub.window_source == "litellm's model map" and sub.context_window
    other = await router.resolve("openai/no-table")
    assert (other.context_window, other.window_source) == (8192, "config file:2")
    assert (other.max_output_tokens, other.output_source) == (512, "env RLM_MAX_OUTPUT_TOKENS")


def _model_rows(stdout: str) -> dict[str, str]:
    lines = stdout.split("\nmodels:\n", 1)[1].splitlines()
    return {
        line.split()[0]: line.strip()
        for line in lines
        if line.startswith("  ") and not line.startswith("  (")
    }


def test_rlm_config_shows_each_models_window_and_where_it_came_from(home):
    (home / "config.toml").write_text(MODEL_TABLES)
    env = {"RLM_HOME": str(home), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([RLM, "config"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    rows = _model_rows(done.stdout)
    assert rows == {
        "openai/smollm2": "openai/smollm2  window 2048 (config file:8), output 256 (config file:9)"
    }
    settings = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert settings['models."openai/smollm2".context_window'].endswith(f"(file {home / 'config.toml'}:8)")


def test_rlm_config_asks_the_endpoint_and_says_an_unknown_window(home):
    from tests.fakes.provider import FakeProvider, Script

    with FakeProvider(Script(), props={"default_generation_settings": {"n_ctx": 512}}) as llama:
        env = {"RLM_HOME": str(home), "PATH": "/usr/bin:/bin"}
        args = ["--model", "openai/smollm2", "--api-base", llama.openai_base]
        args += ["--sub-model", "hosted_vllm/sub", "--sub-api-base", f"http://127.0.0.1:{_free_port()}/v1"]
        done = subprocess.run([RLM, "config", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    rows = _model_rows(done.stdout)
    assert rows["openai/smollm2"].split("  ", 1)[1].strip() == (
        "window 512 (the endpoint (llama.cpp /props)), output unknown"
    )
    assert rows["hosted_vllm/sub"].endswith("window unknown, output unknown")
    assert '[models."hosted_vllm/sub"] context_window = N' in done.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_sandbox_and_reply_caps_reach_the_engine_from_the_file(home):
    config = load(
        {
            "max_cells_per_reply": 5,
            "reply_output_chars": 9000,
            "scratch_mb": 100,
            "big_file_mb": 8,
            "light_children": False,
        }
    )
    settings = engine_settings(config)
    assert (settings.max_cells_per_reply, settings.reply_output_chars) == (5, 9000)
    assert settings.sandbox.scratch_bytes == 100 << 20 and settings.sandbox.big_file_bytes == 8 << 20
    assert settings.sandbox.light_children is False
