"""Config layering (defaults < file < env < flags) and clear messages for bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlm_tui.config import config_path, data_dir, load
from rlm_tui.errors import ConfigError

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
