"""Retry policy and prices, without the network: the decisions a user notices."""

from __future__ import annotations

import pytest

from rlm_tui.errors import ProviderError
from rlm_tui.llm import pricing
from rlm_tui.llm.base import Completion, ModelRequest, RetryInfo, TextDelta, Usage
from rlm_tui.llm.failures import ProviderFailure
from rlm_tui.llm.http_errors import parse_retry_after
from rlm_tui.llm.retry import RetryPolicy, stream_with_retries


def _request(seen: list[RetryInfo]) -> ModelRequest:
    return ModelRequest(model="openai/gpt-4o", messages=[], on_retry=seen.append)


async def _collect(stream):
    return [item async for item in stream]


async def test_retryable_failures_are_retried_with_retry_after_then_succeed():
    failures = [
        ProviderFailure("rate_limit", "HTTP 429: slow down", retry_after=7.0),
        ProviderFailure("server", "HTTP 503"),
    ]
    slept: list[float] = []

    async def attempt():
        if failures:
            raise failures.pop(0)
        yield TextDelta("hi")
        yield Completion("hi", Usage())

    async def fake_sleep(seconds):
        slept.append(seconds)

    seen: list[RetryInfo] = []
    items = await _collect(
        stream_with_retries(attempt, _request(seen), RetryPolicy(base_delay=2.0), fake_sleep)
    )
    assert [type(i).__name__ for i in items] == ["TextDelta", "Completion"]
    assert slept[0] == 7.0  # Retry-After honoured exactly
    assert 1.0 <= slept[1] <= 4.0  # backoff 2 s x 2^1 with jitter in [0.5, 1.0]
    assert [(s.attempt, s.reason) for s in seen] == [(1, "HTTP 429: slow down"), (2, "HTTP 503")]


async def test_retries_run_out_with_a_clear_error():
    async def attempt():
        raise ProviderFailure("server", "HTTP 500: boom")
        yield  # pragma: no cover

    async def no_sleep(seconds):
        pass

    seen: list[RetryInfo] = []
    with pytest.raises(ProviderError) as caught:
        await _collect(stream_with_retries(attempt, _request(seen), RetryPolicy(max_retries=3), no_sleep))
    assert str(caught.value) == "openai/gpt-4o: HTTP 500: boom after 4 attempts"
    assert caught.value.kind == "server" and len(seen) == 3


@pytest.mark.parametrize("kind", ["auth", "not_found", "error"])
async def test_failures_not_worth_retrying_fail_at_once(kind):
    async def attempt():
        raise ProviderFailure(kind, "nope")
        yield  # pragma: no cover

    seen: list[RetryInfo] = []
    with pytest.raises(ProviderError) as caught:
        await _collect(stream_with_retries(attempt, _request(seen), RetryPolicy()))
    assert caught.value.kind == kind and seen == []


def test_retry_after_header_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


def test_prices_come_from_litellms_map_and_unknown_stays_unknown():
    usage = Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=2000, cache_write_tokens=500)
    cost = pricing.cost_usd("anthropic/claude-sonnet-4-5", usage)
    assert cost == pytest.approx(1000 * 3e-6 + 100 * 15e-6 + 2000 * 0.3e-6 + 500 * 3.75e-6)
    assert pricing.cost_usd("openai/gpt-4o-mini", Usage(input_tokens=1_000_000)) == pytest.approx(0.15)
    assert pricing.cost_usd("openai/a-model-nobody-priced", usage) is None
    assert pricing.context_window("anthropic/claude-sonnet-4-5") == 200_000
    assert pricing.context_window("openai/a-model-nobody-priced") is None


async def test_a_429_while_the_endpoints_limit_is_being_found_is_a_wait_not_a_strike():
    """Refused while other requests to the endpoint were in flight (the router lowers its limit):
    the call waits and is answered, even after more such refusals than a call's retries; refused
    alone, the usual retries count; and crowded refusals are bounded too."""

    def refusals(n: int, *, crowded: bool):
        left = [n]

        async def attempt():
            if left[0]:
                left[0] -= 1
                failure = ProviderFailure("rate_limit", "HTTP 429", retry_after=0.0)
                failure.crowded = crowded
                raise failure
            yield Completion("answered", Usage())

        return attempt

    async def no_sleep(seconds):
        pass

    policy = RetryPolicy(max_retries=4)
    seen: list[RetryInfo] = []
    items = await _collect(stream_with_retries(refusals(20, crowded=True), _request(seen), policy, no_sleep))
    assert [i.text for i in items] == ["answered"] and len(seen) == 20
    assert [s.attempt for s in seen] == list(range(1, 21))  # each retry numbered as it happened

    with pytest.raises(ProviderError):  # refused alone: the rate-limit retries, then a clear error
        await _collect(stream_with_retries(refusals(20, crowded=False), _request([]), policy, no_sleep))
    with pytest.raises(ProviderError) as caught:  # a provider that refuses everything, crowded or not
        await _collect(stream_with_retries(refusals(10_000, crowded=True), _request([]), policy, no_sleep))
    assert "after 33 attempts" in str(caught.value)  # 24 waits + 9 tries, then it stops
