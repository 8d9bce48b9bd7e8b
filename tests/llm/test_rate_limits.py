"""A provider's 429s: the router lowers how many requests it sends that endpoint at once, climbs back
when the provider takes more, and items of a fan-out wait instead of failing."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rlm_tui.llm.concurrency import AdaptiveLimit
from rlm_tui.llm.retry import RetryPolicy
from rlm_tui.llm.router import ModelRouter
from tests.fakes.provider import FakeProvider, FakeReply, FakeRequest
from tests.llm.conftest import collect

pytestmark = pytest.mark.usefixtures("keys")

MODEL = "openai/local-model"
ENGINE_CAP = 16  # the engine's max_concurrency: sub-calls it lets out at once


class Crowded:
    """A server that takes ``allowed`` requests at once and answers the rest with a 429."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.now = self.most = self.refused = self.answered = 0
        self.lock = threading.Lock()

    def __call__(self, request: FakeRequest) -> FakeReply:
        with self.lock:
            if self.now >= self.allowed:
                self.refused += 1
                return FakeReply(fault="rate_limit", retry_after=0.02)
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.05)  # the model at work, in the server's thread for this request
        finally:
            with self.lock:
                self.now -= 1
                self.answered += 1
        return FakeReply(text="ok")


async def fan_out(router: ModelRouter, n: int) -> list:
    cap = asyncio.Semaphore(ENGINE_CAP)

    async def one():
        async with cap:
            return await collect(router, MODEL)

    return await asyncio.gather(*(one() for _ in range(n)))


async def test_a_fan_out_over_the_providers_limit_adapts_instead_of_failing_items() -> None:
    server = Crowded(allowed=4)
    with FakeProvider(server) as provider:
        router = ModelRouter(api_base=provider.openai_base, policy=RetryPolicy(base_delay=0.02))
        outcomes = await fan_out(router, 80)
        limit = next(iter(router._adaptive.values()))
        lowered = limit.limit
        assert [o.failure for o in outcomes] == [None] * 80, {str(o.failure) for o in outcomes}
        # fewer 429s than items (it probes above the limit now and then); sending all 16 at once
        # would be refused about three times for each item answered
        assert server.refused < 80, server.refused
        assert lowered <= 8

        server.allowed = ENGINE_CAP  # the provider takes more again: the router climbs back
        server.most = 0
        outcomes = await fan_out(router, 200)
    assert [o.failure for o in outcomes] == [None] * 200, {str(o.failure) for o in outcomes}
    assert limit.limit > lowered + 4
    assert server.most > 8


async def test_a_burst_of_429s_from_one_overload_halves_the_limit_once() -> None:
    limit = AdaptiveLimit(ceiling=16)
    sent = [await limit.acquire() for _ in range(16)]
    for number in sent:  # every request in flight is refused
        limit.refused(number)
        limit.release(answered=False)
    assert limit.limit == 8
    later = await limit.acquire()  # sent after the decrease: its 429 says the provider takes less
    limit.refused(later)
    assert limit.limit == 1  # half of what was in flight, never below one


async def test_requests_over_the_limit_wait_for_a_slot_and_a_cancelled_waiter_gives_its_turn_on() -> None:
    limit = AdaptiveLimit(ceiling=2)
    await limit.acquire()
    await limit.acquire()
    first = asyncio.ensure_future(limit.acquire())
    second = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0)
    assert not first.done() and not second.done()
    first.cancel()
    limit.release(answered=True)
    await asyncio.wait_for(second, 1)
    assert limit.in_flight == 2
