"""What the tests of our model clients share: the loopback fake provider with its script, API keys
in the environment, one of our backends aimed at it, and ``collect``, which runs one request through
a client (a backend or the router) and keeps what came back in an ``Outcome``.

tests/fakes_tests imports these too (its tests of the fake provider go through our clients)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from rlm_tui.errors import ProviderError
from rlm_tui.llm.anthropic_client import AnthropicBackend
from rlm_tui.llm.base import Completion, Message, ModelRequest, RetryInfo, TextDelta
from rlm_tui.llm.failures import ProviderFailure
from rlm_tui.llm.litellm_client import LiteLLMBackend
from tests.fakes.provider import FakeProvider, Script

APIS = ("anthropic", "openai")


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def provider(script: Script) -> Iterator[FakeProvider]:
    with FakeProvider(script) as running:
        yield running


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """API keys for both SDKs (the fake provider takes any)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


def base_for(provider: FakeProvider, api: str) -> str:
    return provider.anthropic_base if api == "anthropic" else provider.openai_base


def backend(base: str, api: str, timeout: float = 10.0) -> Any:
    """Our backend for ``api`` ("anthropic" or "openai", through litellm), aimed at ``base``."""
    if api == "anthropic":
        return AnthropicBackend(api_key="test-key", base_url=base, timeout=timeout)
    return LiteLLMBackend(api_base=base, timeout=timeout)


def backend_for(provider: FakeProvider, api: str, timeout: float = 10.0) -> Any:
    """Our backend for ``api``, aimed at the fake provider."""
    return backend(base_for(provider, api), api, timeout)


@dataclass
class Outcome:
    """What a client made of one request: the text deltas, then a completion or a failure (a
    backend's ProviderFailure, the router's ProviderError); the retries on the way, and the time."""

    deltas: list[str] = field(default_factory=list)
    completion: Completion | None = None
    failure: ProviderFailure | ProviderError | None = None
    retries: list[RetryInfo] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.deltas)


async def collect(client: Any, model: str, question: str = "hi", *, system: str | None = None) -> Outcome:
    outcome = Outcome()
    request = ModelRequest(model, [Message("user", question)], system=system, on_retry=outcome.retries.append)
    started = time.monotonic()
    try:
        async for item in client.stream(request):
            if isinstance(item, TextDelta):
                outcome.deltas.append(item.text)
            else:
                outcome.completion = item
    except (ProviderFailure, ProviderError) as exc:
        outcome.failure = exc
    outcome.seconds = time.monotonic() - started
    return outcome
