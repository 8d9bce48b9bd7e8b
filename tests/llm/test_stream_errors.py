"""Errors a provider reports inside a stream that began with a 200, through our real clients (the
Anthropic SDK's stream helper, litellm) over loopback HTTP: each becomes the ProviderFailure kind of
the HTTP error it stands for, and the router retries it exactly like that HTTP error.

Assertions are on our own behaviour (kinds, statuses, retry counts, text received), never on the
wording of another library's exceptions."""

from __future__ import annotations

from typing import Any

import pytest

from rlm_tui.errors import ProviderError
from rlm_tui.llm.anthropic_client import DEFAULT_MAX_TOKENS
from rlm_tui.llm.failures import ProviderFailure
from rlm_tui.llm.http_errors import stream_error_failure
from rlm_tui.llm.retry import RetryPolicy
from rlm_tui.llm.router import ModelRouter
from tests.fakes.provider import FakeProvider, FakeReply, Script
from tests.llm.conftest import APIS, Outcome, backend_for, base_for, collect

pytestmark = pytest.mark.usefixtures("keys")

MODELS = {"anthropic": "anthropic/claude-sonnet-4-6", "openai": "openai/gpt-4o"}
FIRST = "The first attempt is cut short here."  # 16-character deltas: three, of which two are sent
SECOND = "The second attempt says it all."


async def ask(client: Any, api: str) -> Outcome:
    """A "hi" to ``api``'s model."""
    return await collect(client, MODELS[api])


def router_for(provider: FakeProvider, api: str, max_retries: int) -> ModelRouter:
    base = base_for(provider, api)
    # base_delay 0: the backoff between attempts is 0 s, so the retries run at once
    return ModelRouter(api_base=base, policy=RetryPolicy(max_retries=max_retries, base_delay=0.0), timeout=10)


# --------------------------------------------------------------------------- one attempt


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (None, "server"),  # overloaded_error (Anthropic) / server_error (OpenAI), the default
        (500, "server"),
        (429, "rate_limit"),
        (401, "auth"),
        (404, "not_found"),
        (400, "error"),
    ],
)
async def test_an_error_inside_the_stream_is_classified_like_its_http_status(
    provider: FakeProvider, script: Script, api: str, status: int | None, kind: str
) -> None:
    reply = FakeReply(fault="stream_error", text=FIRST)
    if status is not None:
        reply = FakeReply(fault="stream_error", status=status, text=FIRST)
    script.on(reply=reply)

    outcome = await ask(backend_for(provider, api), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderFailure)
    assert failure.kind == kind
    assert failure.status is None  # the HTTP status was a 200: no status describes the failure
    assert failure.retryable == (kind in ("server", "rate_limit"))
    assert outcome.text == FIRST[:32]  # the text that came before the error event
    assert outcome.completion is None


@pytest.mark.parametrize("api", APIS)
async def test_an_error_inside_the_stream_names_the_host_and_no_http_status(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(reply=FakeReply(fault="stream_error", status=429, text=FIRST))

    outcome = await ask(backend_for(provider, api), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderFailure)
    host = provider.url.removeprefix("http://")
    assert str(failure).startswith(f"the stream from {host} reported ")
    said = str(failure).removeprefix(f"the stream from {host} reported ")  # the port may hold "429"
    assert "HTTP" not in said and "429" not in said


def test_an_in_stream_error_about_the_context_window_is_context_window() -> None:
    url = "http://127.0.0.1:8080/v1"
    by_code = stream_error_failure(
        ("context_length_exceeded", "invalid_request_error"),
        "This model's maximum context length is 512 tokens. However, your messages resulted in 700 tokens.",
        url=url,
    )
    by_fields = stream_error_failure(
        (None, "exceed_context_size_error"),
        "the request exceeds the available context size",
        url=url,
        body={"code": 400, "type": "exceed_context_size_error", "n_ctx": 512, "n_prompt_tokens": 700},
    )
    by_words = stream_error_failure(
        ("invalid_request_error",), "prompt is too long: 700 tokens > 512 maximum", url=url
    )

    for failure in (by_code, by_fields, by_words):
        assert failure.kind == "context_window" and not failure.retryable
        assert (failure.window, failure.prompt_tokens, failure.status) == (512, 700, None)
        assert str(failure) == (
            "the prompt (700 tokens) does not fit the model's context window (512 tokens); "
            "127.0.0.1:8080 said so"
        )


@pytest.mark.parametrize("api", APIS)
async def test_an_error_event_before_any_text_is_classified_too(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(reply=FakeReply(fault="stream_error", text=""))

    outcome = await ask(backend_for(provider, api), api)

    assert isinstance(outcome.failure, ProviderFailure)
    assert (outcome.failure.kind, outcome.deltas) == ("server", [])


# --------------------------------------------------------------------------- through the router's retries


@pytest.mark.parametrize("api", APIS)
async def test_an_overloaded_stream_is_retried_and_the_second_attempt_answers(
    provider: FakeProvider, script: Script, api: str
) -> None:
    rule = script.on(
        replies=[
            FakeReply(fault="stream_error", text=FIRST, input_tokens=100, output_tokens=10),
            FakeReply(text=SECOND, input_tokens=100, output_tokens=8),
        ]
    )

    outcome = await ask(router_for(provider, api, max_retries=3), api)

    assert outcome.failure is None
    assert outcome.completion is not None
    assert outcome.completion.text == SECOND
    assert outcome.completion.stop_reason in ("end_turn", "stop")
    assert (outcome.completion.usage.input_tokens, outcome.completion.usage.output_tokens) == (100, 8)
    assert outcome.completion.usage.cost_usd is not None and outcome.completion.usage.cost_usd > 0
    assert [(r.attempt, r.model) for r in outcome.retries] == [(1, MODELS[api])]
    assert len(rule.hits) == 2 and script.pending() == []
    # What the deltas showed: the first attempt's text up to the error, then the whole second one.
    assert outcome.text == FIRST[:32] + SECOND


@pytest.mark.parametrize("api", APIS)
async def test_in_stream_errors_that_never_stop_run_out_of_retries_as_server_errors(
    provider: FakeProvider, script: Script, api: str
) -> None:
    rule = script.on(reply=FakeReply(fault="stream_error", text=FIRST))

    outcome = await ask(router_for(provider, api, max_retries=2), api)

    assert isinstance(outcome.failure, ProviderError)
    assert outcome.failure.kind == "server"
    assert [r.attempt for r in outcome.retries] == [1, 2]
    assert len(rule.hits) == 3  # the first attempt and two retries
    assert outcome.completion is None


@pytest.mark.parametrize("api", APIS)
async def test_an_in_stream_rate_limit_is_retried_then_answered(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(replies=[FakeReply(fault="stream_error", status=429, text=FIRST), SECOND])

    outcome = await ask(router_for(provider, api, max_retries=1), api)

    assert outcome.completion is not None and outcome.completion.text == SECOND
    assert len(outcome.retries) == 1


@pytest.mark.parametrize("api", APIS)
async def test_an_in_stream_auth_error_is_not_retried(
    provider: FakeProvider, script: Script, api: str
) -> None:
    rule = script.on(replies=[FakeReply(fault="stream_error", status=401, text=FIRST), SECOND])

    outcome = await ask(router_for(provider, api, max_retries=3), api)

    assert isinstance(outcome.failure, ProviderError)
    assert outcome.failure.kind == "auth" and outcome.failure.exit_code == 2
    assert outcome.retries == [] and len(rule.hits) == 1


@pytest.mark.parametrize("api", APIS)
async def test_http_errors_are_still_retried_the_same_way(
    provider: FakeProvider, script: Script, api: str
) -> None:
    rule = script.on(replies=[FakeReply(fault="server_error", status=529), SECOND])

    outcome = await ask(router_for(provider, api, max_retries=1), api)

    assert outcome.completion is not None and outcome.completion.text == SECOND
    assert len(outcome.retries) == 1 and len(rule.hits) == 2


async def test_the_anthropic_call_sends_the_default_output_limit(
    provider: FakeProvider, script: Script
) -> None:
    script.on(reply="ok")

    outcome = await ask(backend_for(provider, "anthropic"), "anthropic")

    assert outcome.completion is not None and outcome.completion.text == "ok"
    request = provider.requests[0]
    assert request.stream is True
    assert request.body["max_tokens"] == DEFAULT_MAX_TOKENS  # claude-sonnet-4-6 allows more
    assert request.body["model"] == "claude-sonnet-4-6"
