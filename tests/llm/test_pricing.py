"""Prices from the price table (genai-prices: tiers, cache reads and writes), model limits through
litellm's public model info, and litellm's import kept off the event loop of an Anthropic call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rlm_tui.llm import pricing
from rlm_tui.llm.base import Completion, Message, ModelRequest, Usage
from tests.fakes.provider import FakeProvider, FakeReply, Script
from tests.llm.conftest import APIS, backend_for

ROOT = Path(__file__).resolve().parents[2]
SONNET = "anthropic/claude-sonnet-4-6"  # $3 / $15 a million tokens; cache reads $0.30, writes $3.75


def sonnet_price(input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> float:
    return input_tokens * 3e-6 + output_tokens * 15e-6 + cache_read * 0.3e-6 + cache_write * 3.75e-6


# --------------------------------------------------------------------------- the cost function


def test_gemini_2_5_pro_is_priced_by_its_tier() -> None:
    # $1.25 in / $10 out a million tokens up to 200k prompt tokens; $2.50 / $15 above.
    below = pricing.cost_usd("gemini/gemini-2.5-pro", Usage(input_tokens=100_000, output_tokens=1000))
    above = pricing.cost_usd("gemini/gemini-2.5-pro", Usage(input_tokens=300_000, output_tokens=1000))
    assert below == pytest.approx(100_000 * 1.25e-6 + 1000 * 10e-6)  # 0.135
    assert above == pytest.approx(300_000 * 2.5e-6 + 1000 * 15e-6)  # 0.765, not the flat 0.385


def test_anthropic_cache_reads_and_writes_are_priced_at_their_own_rates() -> None:
    usage = Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=2000, cache_write_tokens=500)
    assert pricing.cost_usd(SONNET, usage) == pytest.approx(sonnet_price(1000, 100, 2000, 500))


def test_anthropic_cache_reads_count_towards_the_tier_threshold() -> None:
    # claude-haiku-5-5: $0.10 in, $0.01 cache read, $0.50 out a million tokens up to 100k prompt
    # tokens; $0.50, $0.05 and $2.50 above. The threshold counts the whole prompt, cache reads too.
    haiku = "anthropic/claude-haiku-5-5"
    under = pricing.cost_usd(haiku, Usage(input_tokens=20_000, output_tokens=1000, cache_read_tokens=70_000))
    over = pricing.cost_usd(haiku, Usage(input_tokens=20_000, output_tokens=1000, cache_read_tokens=90_000))
    assert under == pytest.approx(20_000 * 0.1e-6 + 70_000 * 0.01e-6 + 1000 * 0.5e-6)
    assert over == pytest.approx(20_000 * 0.5e-6 + 90_000 * 0.05e-6 + 1000 * 2.5e-6)


def test_a_model_without_a_price_costs_none_never_zero() -> None:
    usage = Usage(input_tokens=1000, output_tokens=100)
    assert pricing.cost_usd("openai/a-model-nobody-priced", usage) is None
    assert pricing.cost_usd("anthropic/claude-nobody-priced", usage) is None
    assert pricing.cost_usd("hosted_vllm/my-local-model", usage) is None
    assert pricing.cost_usd("no-provider-at-all", usage) is None
    # litellm lists this one, but prices it by the session, not by the token: still unknown
    assert pricing.cost_usd("azure/container", usage) is None


def test_limits_come_from_litellms_model_info() -> None:
    assert pricing.context_window(SONNET) == 1_000_000
    assert pricing.max_output_tokens(SONNET) == 128_000
    assert pricing.context_window("gemini/gemini-2.5-pro") == 1_048_576
    assert pricing.context_window("openai/gpt-4o") == 128_000
    assert pricing.context_window("openai/a-model-nobody-priced") is None
    assert pricing.max_output_tokens("openai/a-model-nobody-priced") is None


# --------------------------------------------------------------------------- calls through our clients


async def complete(backend: Any, model: str) -> Completion:
    items = [item async for item in backend.stream(ModelRequest(model, [Message("user", "hi")]))]
    assert isinstance(items[-1], Completion)
    return items[-1]


async def test_an_anthropic_call_is_priced_with_its_cache_tokens(
    provider: FakeProvider, script: Script
) -> None:
    script.on(
        reply=FakeReply(
            text="ok", input_tokens=1000, output_tokens=100, cache_read_tokens=2000, cache_write_tokens=500
        )
    )
    completion = await complete(backend_for(provider, "anthropic"), SONNET)

    assert completion.usage == Usage(1000, 100, 2000, 500, pytest.approx(sonnet_price(1000, 100, 2000, 500)))


async def test_a_litellm_call_is_priced_from_litellms_own_usage_record(
    provider: FakeProvider, script: Script, keys: None
) -> None:
    script.on(reply=FakeReply(text="ok", input_tokens=1000, output_tokens=100, cache_read_tokens=2000))

    completion = await complete(backend_for(provider, "openai"), "openai/gpt-4o")

    # gpt-4o: $2.50 in, $1.25 cached, $10 out a million tokens
    expected = 1000 * 2.5e-6 + 2000 * 1.25e-6 + 100 * 10e-6
    assert completion.usage == Usage(1000, 100, 2000, 0, pytest.approx(expected))


@pytest.mark.parametrize("api", APIS)
async def test_a_call_to_an_unpriced_model_has_an_unknown_cost(
    provider: FakeProvider, script: Script, api: str, keys: None
) -> None:
    script.on(reply=FakeReply(text="ok", input_tokens=10, output_tokens=2))

    completion = await complete(backend_for(provider, api), f"{api}/a-model-nobody-priced")

    assert (completion.text, completion.usage) == ("ok", Usage(10, 2, 0, 0, None))


# --------------------------------------------------------------------------- offline, and off the event loop

# Run in a fresh interpreter, where litellm is not imported yet: every connection but loopback is
# refused (and recorded); the background import of litellm is held back until the call's request has
# reached the provider (a call that waited for it would never send it); a ticker measures how long
# the event loop ever stalled while litellm was importing.
OFFLINE_CALL = r"""
import asyncio, json, os, socket, sys, threading, time

attempts = []
LOCAL = ("127.0.0.1", "::1", "localhost", None)
real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOCAL:
        attempts.append(f"connect {address[0]}")
        raise OSError("no network in this test")
    return real_connect(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host not in LOCAL:
        attempts.append(f"resolve {host}")
        raise socket.gaierror("no network in this test")
    return real_getaddrinfo(host, *args, **kwargs)

socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo

import anthropic  # the SDK's own import is not what this measures
from rlm_tui.llm import litellm_loader

request_arrived = threading.Event()
import_released_at = []
import_litellm = litellm_loader._import_litellm

def held_import():  # the background import starts only once the request has gone out
    request_arrived.wait(20)  # a call that waits for litellm sends its request after this
    import_released_at.append(time.perf_counter())
    return import_litellm()

litellm_loader._import_litellm = held_import
from rlm_tui.llm.anthropic_client import AnthropicBackend
from rlm_tui.llm.base import Completion, Message, ModelRequest
from tests.fakes.provider import FakeProvider, FakeReply

seen = {}

def responder(request):
    if request.body["max_tokens"] == 5:  # the warm-up
        return "warm"
    seen["litellm_imported_at_request"] = "litellm" in sys.modules
    request_arrived.set()
    return FakeReply(text="ok", input_tokens=1000, output_tokens=100, cache_read_tokens=2000, cache_write_tokens=500)

async def main():
    stalls, done = [0.0], asyncio.Event()

    async def ticker():
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            stalls[0] = max(stalls[0], now - last)
            last = now

    with FakeProvider(responder) as provider:
        # The SDK's first request builds its types and transport on the event loop, whatever litellm
        # does: warm it up with a call of its own, so that what is measured is litellm's import.
        sdk = anthropic.AsyncAnthropic(api_key="x", base_url=provider.anthropic_base, max_retries=0)
        async with sdk.messages.stream(model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "hi"}]) as warm:
            await warm.get_final_message()
        ticking = asyncio.create_task(ticker())
        backend = AnthropicBackend(api_key="x", base_url=provider.anthropic_base, timeout=30)
        request = ModelRequest("anthropic/claude-sonnet-4-6", [Message("user", "hi")])
        items = [item async for item in backend.stream(request)]
        seen["litellm_needed_for_the_price"] = "litellm" in sys.modules and litellm_loader.loaded() is not None
        await litellm_loader.get()  # imported for the model's limits, while the loop ran on
        loaded_at = time.perf_counter()
        done.set()
        await ticking
    completion = items[-1]
    assert isinstance(completion, Completion)
    print(json.dumps({
        **seen,
        "cost": completion.usage.cost_usd,
        "attempts": attempts,
        "longest_stall": stalls[0],
        "import_seconds": loaded_at - import_released_at[0],
        "env": os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP"),
    }))

asyncio.run(main())
"""


def test_an_anthropic_call_is_priced_offline_without_waiting_for_litellm_or_blocking_the_loop() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_CALL], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["litellm_imported_at_request"] is False  # the request went out first
    assert result["litellm_needed_for_the_price"] is False  # priced from the price table
    assert result["cost"] == pytest.approx(sonnet_price(1000, 100, 2000, 500))
    assert result["attempts"] == []  # litellm used its bundled price map: no fetch
    assert result["env"] == "True"
    # litellm's import takes seconds; the event loop kept running all the while (with hiccups where
    # the import thread holds the GIL in C code, ~0.1-0.3 s; a loop that waited would stall for all
    # of the import)
    assert result["longest_stall"] < result["import_seconds"] / 2, result
