"""Failures named for what happened, through our real clients (the Anthropic SDK's events, litellm)
and the router's retries, against the loopback provider: cannot connect, dropped, no reply in
time, an HTTP status a server sent, over the context window, an empty reply; and what a reply that
did come says of itself (its stop reason, whether its usage was reported or estimated).

Assertions are on our own behaviour (kinds, our messages with the URL, sizes and status, retry
counts and times, requests the server saw), never on the wording of another library's errors."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from rlm_tui.errors import ProviderError
from rlm_tui.llm.base import ModelRequest, RetryInfo, estimate_tokens
from rlm_tui.llm.context_window import window_sizes
from rlm_tui.llm.failures import ProviderFailure, is_local_url
from rlm_tui.llm.retry import LOCAL_RETRY_DELAY, RetryPolicy, stream_with_retries
from rlm_tui.llm.router import ModelRouter
from tests.fakes.provider import FakeProvider, FakeReply, FakeRequest, Script
from tests.fakes.script import llama_cpp_over_window
from tests.llm.conftest import APIS, Outcome, backend, backend_for, base_for, collect

pytestmark = pytest.mark.usefixtures("keys")

MODELS = {"anthropic": "anthropic/claude-sonnet-4-6", "openai": "openai/local-model"}
QUESTION = "What is the capital of France?"
QUICK = RetryPolicy(max_retries=2, base_delay=0.01)


def router(base: str, policy: RetryPolicy = QUICK, timeout: float = 10) -> ModelRouter:
    return ModelRouter(api_base=base, policy=policy, timeout=timeout)


async def ask(client: Any, api: str, system: str | None = None) -> Outcome:
    """The question, to ``api``'s model."""
    return await collect(client, MODELS[api], QUESTION, system=system)


def closed_port_url(api: str) -> str:
    """The URL of a loopback port nothing listens on: a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}" + ("/v1" if api == "openai" else "")


def host(provider: FakeProvider) -> str:
    return provider.url.removeprefix("http://")


# --------------------------------------------------------------------------- cannot connect


@pytest.mark.parametrize("api", APIS)
async def test_a_refused_connection_is_connect_naming_the_url_and_no_status(api: str) -> None:
    url = closed_port_url(api)

    outcome = await ask(backend(url, api), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderFailure)
    assert failure.kind == "connect" and failure.retryable
    assert failure.status is None and failure.url == url and failure.local
    assert str(failure) == f"cannot connect to {url}: connection refused"


@pytest.mark.parametrize("api", APIS)
async def test_a_refused_local_server_fails_fast_even_with_the_default_policy(api: str) -> None:
    url = closed_port_url(api)

    outcome = await ask(router(url, RetryPolicy()), api)  # 4 retries from 1 s: 15 s of backoff

    failure = outcome.failure
    assert isinstance(failure, ProviderError)
    assert failure.kind == "connect" and failure.status is None and failure.url == url
    assert len(outcome.retries) <= 1  # at most two attempts
    assert all(retry.delay <= LOCAL_RETRY_DELAY for retry in outcome.retries)
    assert outcome.seconds < 1.0
    assert str(failure).startswith(f"{MODELS[api]}: cannot connect to {url}: connection refused")
    assert "HTTP" not in str(failure) and " 500" not in str(failure).replace(
        url, "URL"
    )  # a port may hold 500


async def _fail(kind: str, url: str, policy: RetryPolicy) -> tuple[ProviderError, list[RetryInfo]]:
    """Attempts that always fail with `kind` against `url`, through the retries (no sleeping)."""
    seen: list[RetryInfo] = []

    async def attempt():
        raise ProviderFailure(kind, f"{kind} at {url}", url=url)
        yield  # pragma: no cover

    async def no_sleep(seconds: float) -> None:
        pass

    request = ModelRequest("openai/gpt-4o", [], on_retry=seen.append)
    with pytest.raises(ProviderError) as caught:
        async for _ in stream_with_retries(attempt, request, policy, no_sleep):
            pass
    return caught.value, seen


@pytest.mark.parametrize("kind", ["connect", "empty_reply"])
async def test_a_public_host_keeps_the_normal_retries_a_local_one_gets_one_quick_retry(kind: str) -> None:
    error, seen = await _fail(kind, "https://api.example.com/v1", RetryPolicy(max_retries=4))
    assert error.kind == kind and len(seen) == 4
    assert all(retry.delay > LOCAL_RETRY_DELAY for retry in seen)  # it backs off

    for local in ("http://localhost:8080/v1", "http://192.168.1.20:11434", "http://[::1]:8000/v1"):
        error, seen = await _fail(kind, local, RetryPolicy(max_retries=4))
        assert error.kind == kind and len(seen) == 1 and seen[0].delay <= LOCAL_RETRY_DELAY, local
        assert "after 2 attempts" in str(error)


async def test_other_failures_of_a_local_server_keep_the_normal_retries() -> None:
    error, seen = await _fail("server", "http://127.0.0.1:8080/v1", RetryPolicy(max_retries=3))
    assert error.kind == "server" and len(seen) == 3
    _, seen = await _fail("connect", "http://127.0.0.1:8080/v1", RetryPolicy(max_retries=0))
    assert seen == []  # never more retries than the policy allows


def test_which_urls_are_local() -> None:
    local = ["http://127.0.0.1:8080/v1", "http://localhost:1234", "http://10.0.0.7/v1", "http://[::1]:80"]
    public = ["https://api.openai.com/v1", "http://llama.example.org:8080", None, ""]
    assert [is_local_url(url) for url in local] == [True] * len(local)
    assert [is_local_url(url) for url in public] == [False] * len(public)


# --------------------------------------------------------------------------- dropped, timeout, HTTP


@pytest.mark.parametrize("api", APIS)
async def test_a_connection_dropped_mid_reply_is_dropped_and_retried(
    provider: FakeProvider, script: Script, api: str
) -> None:
    rule = script.on(replies=[FakeReply(fault="cut_stream", text="x" * 64), "Paris."])

    outcome = await ask(router(base_for(provider, api)), api)

    assert outcome.completion is not None and outcome.completion.text == "Paris."
    assert len(outcome.retries) == 1 and len(rule.hits) == 2
    reason = outcome.retries[0].reason
    assert reason == f"the connection to {host(provider)} dropped before the reply was complete"


@pytest.mark.parametrize("api", APIS)
async def test_a_dropped_connection_never_names_an_http_status(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(reply=FakeReply(fault="cut_stream", text="x" * 64))

    outcome = await ask(router(base_for(provider, api)), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderError)
    assert failure.kind == "dropped" and failure.status is None
    assert "HTTP" not in str(failure) and "after 3 attempts" in str(failure)
    assert outcome.text == "x" * 32 * 3  # each attempt's text up to the drop


@pytest.mark.parametrize("api", APIS)
async def test_no_reply_in_time_is_a_timeout_naming_the_host_and_the_time(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(reply=FakeReply(fault="stall"))

    outcome = await ask(backend_for(provider, api, timeout=0.3), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderFailure)
    assert failure.kind == "timeout" and failure.retryable and failure.status is None
    assert str(failure) == f"no reply from {host(provider)} within 0.3 s"


@pytest.mark.parametrize("api", APIS)
async def test_an_http_status_is_named_with_the_host_and_the_servers_message(
    provider: FakeProvider, script: Script, api: str
) -> None:
    rule = script.on(reply=FakeReply(fault="server_error", status=503, text="warming up, try later"))

    outcome = await ask(router(base_for(provider, api)), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderError)
    assert (failure.kind, failure.status) == ("server", 503)
    assert str(failure) == (
        f"{MODELS[api]}: HTTP 503 from {host(provider)}: warming up, try later after 3 attempts"
    )
    assert len(rule.hits) == 3


# --------------------------------------------------------------------------- the context window


WINDOW_REPLIES = {
    "anthropic": [FakeReply(fault="context_window", window=200_000, input_tokens=210_000)],
    "openai": [
        FakeReply(fault="context_window", window=512, input_tokens=600, window_shape=shape)
        for shape in ("llama_cpp", "openai", "llama_server")
    ],
}


@pytest.mark.parametrize(
    ("api", "reply"), [(api, reply) for api, replies in WINDOW_REPLIES.items() for reply in replies]
)
async def test_a_prompt_over_the_window_is_context_window_with_both_sizes_and_not_retried(
    provider: FakeProvider, script: Script, api: str, reply: FakeReply
) -> None:
    rule = script.on(reply=reply)
    window, prompt = reply.window_sizes()

    outcome = await ask(router(base_for(provider, api)), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderError)
    assert failure.kind == "context_window" and failure.status == 400
    assert (failure.window, failure.prompt_tokens) == (window, prompt)
    assert str(failure) == (
        f"{MODELS[api]}: the prompt ({prompt:,} tokens) does not fit the model's context window "
        f"({window:,} tokens); HTTP 400 from {host(provider)}"
    )
    assert len(rule.hits) == 1 and outcome.retries == []


@pytest.mark.parametrize(
    ("message", "body", "sizes"),
    [
        ("Requested tokens (600) exceed context window of 512", None, (512, 600)),
        (
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
            "(4900 in the messages, 100 in the completion).",
            None,
            (4096, 4900),
        ),
        (
            "This model's maximum context length is 8192 tokens and your request has 9000 input tokens",
            None,
            (8192, 9000),
        ),
        ("prompt is too long: 210000 tokens > 200000 maximum", None, (200_000, 210_000)),
        (
            "the request exceeds the available context size",
            {"error": {"n_ctx": 512, "n_prompt_tokens": 700}},
            (512, 700),
        ),
        ("the prompt is too large for this model", None, (None, None)),
    ],
)
def test_the_sizes_are_read_from_each_servers_words(message: str, body: Any, sizes: tuple) -> None:
    assert window_sizes(message, body) == sizes


# --------------------------------------------------------------------------- an empty reply


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    "reply",
    [FakeReply(fault="empty_stream"), FakeReply(text="", report_usage=False)],
    ids=["no-events", "a-stop-reason-but-no-text-or-usage"],
)
async def test_a_stream_with_no_text_and_no_usage_is_an_empty_reply(
    provider: FakeProvider, script: Script, api: str, reply: FakeReply
) -> None:
    script.on(reply=reply)

    outcome = await ask(backend_for(provider, api), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderFailure)
    assert failure.kind == "empty_reply" and failure.retryable and failure.fallback is not None
    assert str(failure) == f"{host(provider)} sent an empty reply (no text, no usage)"
    assert outcome.completion is None


@pytest.mark.parametrize("api", APIS)
async def test_an_empty_stream_is_retried_then_asked_once_unstreamed_which_says_the_window(
    provider: FakeProvider, script: Script, api: str
) -> None:
    """llama-cpp-python's server over its window: an empty 200 stream, and the 400 that says why
    only to a request that is not streamed."""
    script.on(reply=llama_cpp_over_window(window=512, prompt_tokens=600))

    outcome = await ask(router(base_for(provider, api)), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderError)
    assert failure.kind == "context_window" and failure.status == 400
    assert (failure.window, failure.prompt_tokens) == (512, 600)
    assert "(600 tokens)" in str(failure) and "(512 tokens)" in str(failure)
    # a local server: one quick retry of the stream, then the request that is not streamed
    assert [r.reason for r in outcome.retries] == [
        f"{host(provider)} sent an empty reply (no text, no usage)"
    ]
    assert outcome.retries[0].delay <= LOCAL_RETRY_DELAY
    assert [r.stream for r in provider.requests] == [True, True, False]


@pytest.mark.parametrize("api", APIS)
async def test_a_stream_aborted_before_its_first_word_is_asked_once_unstreamed_too(
    provider: FakeProvider, script: Script, api: str
) -> None:
    """llama-cpp-python also aborts the stream of a prompt over its window (a dropped connection,
    no word sent) as often as it sends it empty."""

    def answer(request: FakeRequest) -> FakeReply:
        if request.stream:
            return FakeReply(fault="cut_stream", text="")
        return FakeReply(fault="context_window", window=512, input_tokens=600, window_shape="llama_cpp")

    script.on(reply=answer)

    outcome = await ask(router(base_for(provider, api)), api)

    assert isinstance(outcome.failure, ProviderError) and outcome.failure.kind == "context_window"
    assert (outcome.failure.window, outcome.failure.prompt_tokens) == (512, 600)
    assert provider.requests[-1].stream is False  # the request that says why was made


@pytest.mark.parametrize("api", APIS)
async def test_an_answer_to_the_unstreamed_request_is_the_reply(
    provider: FakeProvider, script: Script, api: str
) -> None:
    def answer(request: FakeRequest) -> FakeReply:
        if request.stream:
            return FakeReply(fault="empty_stream")
        return FakeReply(text="Paris.", input_tokens=20, output_tokens=2)

    script.on(reply=answer)

    outcome = await ask(router(base_for(provider, api), RetryPolicy(max_retries=0)), api)

    assert outcome.failure is None and outcome.completion is not None
    assert outcome.text == outcome.completion.text == "Paris."
    assert (outcome.completion.usage.input_tokens, outcome.completion.usage.output_tokens) == (20, 2)
    assert not outcome.completion.usage.estimated
    assert [r.stream for r in provider.requests] == [True, False]


@pytest.mark.parametrize("api", APIS)
async def test_empty_both_ways_fails_as_an_empty_reply_after_the_one_extra_request(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(reply=FakeReply(fault="empty_stream"))

    outcome = await ask(router(base_for(provider, api), RetryPolicy(max_retries=1, base_delay=0.01)), api)

    failure = outcome.failure
    assert isinstance(failure, ProviderError) and failure.kind == "empty_reply"
    assert str(failure).startswith(f"{MODELS[api]}: {host(provider)} sent an empty reply")
    assert "over its context window" in str(failure)  # the likely cause, said
    assert [r.stream for r in provider.requests] == [True, True, False]


@pytest.mark.parametrize("api", APIS)
async def test_no_text_with_reported_usage_is_an_empty_answer_not_a_failure(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(reply=FakeReply(text="", input_tokens=40, output_tokens=0))

    outcome = await ask(backend_for(provider, api), api)

    assert outcome.failure is None and outcome.completion is not None
    assert outcome.completion.text == "" and outcome.completion.usage.input_tokens == 40


# --------------------------------------------------------------------------- usage and stop reasons


@pytest.mark.parametrize("api", APIS)
async def test_a_stream_without_usage_gets_estimated_counts_marked_so(
    provider: FakeProvider, script: Script, api: str
) -> None:
    answer = "The capital of France is Paris, on the Seine."
    script.on(reply=FakeReply(text=answer, report_usage=False, input_tokens=999, output_tokens=999))

    outcome = await ask(backend_for(provider, api), api, system="Answer briefly.")

    completion = outcome.completion
    assert completion is not None and completion.text == answer
    usage = completion.usage
    assert usage.estimated
    assert usage.input_tokens == estimate_tokens("Answer briefly.\n" + QUESTION)
    assert usage.output_tokens == estimate_tokens(answer)


@pytest.mark.parametrize("api", APIS)
async def test_reported_usage_is_passed_on_as_reported(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(reply=FakeReply(text="Paris.", input_tokens=123, output_tokens=7))

    outcome = await ask(backend_for(provider, api), api)

    assert outcome.completion is not None
    usage = outcome.completion.usage
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (123, 7, False)


@pytest.mark.parametrize("api", APIS)
async def test_a_reply_cut_at_the_output_limit_says_so(
    provider: FakeProvider, script: Script, api: str
) -> None:
    script.on(contains="capital", reply=FakeReply(text="The capital of", stop_reason="max_tokens"))

    cut = await ask(router(base_for(provider, api)), api)

    assert cut.completion is not None and cut.completion.text == "The capital of"
    assert cut.completion.stop_reason == ("max_tokens" if api == "anthropic" else "length")
    assert cut.completion.was_cut
    assert cut.retries == []


@pytest.mark.parametrize("api", APIS)
async def test_a_complete_reply_is_not_cut(provider: FakeProvider, script: Script, api: str) -> None:
    script.on(reply="Paris.")

    outcome = await ask(backend_for(provider, api), api)

    assert outcome.completion is not None
    assert outcome.completion.stop_reason == ("end_turn" if api == "anthropic" else "stop")
    assert not outcome.completion.was_cut
