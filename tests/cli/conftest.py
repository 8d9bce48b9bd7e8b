"""Running the installed ``rlm`` command against the loopback provider, through both client paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.provider import FakeProvider, Script

RLM = str(Path(sys.executable).with_name("rlm"))
ROOT_SYSTEM = "Recursive Language Model"  # in our system prompt: marks root-model requests
PATHS = {
    # the Anthropic SDK path and the litellm path, each with priced models
    "anthropic": ("anthropic/claude-sonnet-5-5", "anthropic/claude-haiku-5-5"),
    "litellm": ("openai/gpt-4o", "openai/gpt-4o-mini"),
}


@dataclass
class Rlm:
    """Runs `rlm` as a subprocess with RLM_HOME and the provider wired in for one client path."""

    home: Path
    provider: FakeProvider
    path: str
    extra_env: dict[str, str]

    def env(self, **overrides: str | None) -> dict[str, str]:
        root, sub = PATHS[self.path]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "RLM_HOME": str(self.home),
            "RLM_MODEL": root,
            "RLM_SUB_MODEL": sub,
            "RLM_RETRY_BASE_DELAY": "0.01",
            "RLM_REQUEST_TIMEOUT": "20",
        }
        if self.path == "anthropic":
            env.update(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=self.provider.anthropic_base)
        else:
            env.update(
                OPENAI_API_KEY="test-key",
                RLM_API_BASE=self.provider.openai_base,
                RLM_SUB_API_BASE=self.provider.openai_base,
            )
        env.update(self.extra_env)
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120, **env: str | None):
        stdin = None if input is not None else subprocess.DEVNULL
        return subprocess.run(
            [RLM, *args],
            capture_output=True,
            text=True,
            input=input,
            stdin=stdin,
            timeout=timeout,
            env=self.env(**env),
        )

    def ask_json(self, *args: str, **env: str | None) -> tuple[subprocess.CompletedProcess, dict]:
        done = self("ask", *args, "--json", **env)
        payload = json.loads(done.stdout) if done.stdout.strip() else {}
        return done, payload


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def provider(script):
    with FakeProvider(script) as fake:
        yield fake


@pytest.fixture(params=sorted(PATHS))
def rlm(request, tmp_path, provider) -> Rlm:
    return Rlm(tmp_path / "home", provider, request.param, {})


@pytest.fixture
def rlm_anthropic(tmp_path, provider) -> Rlm:
    return Rlm(tmp_path / "home", provider, "anthropic", {})


def repl(code: str, text: str = "") -> str:
    return f"{text}\n```repl\n{code.strip()}\n```\n"


def root_requests(provider: FakeProvider) -> list:
    return [r for r in provider.requests if ROOT_SYSTEM in r.system]
