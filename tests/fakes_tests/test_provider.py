"""The fake provider, checked with the real client libraries (litellm, anthropic), through our own
clients (which turn every fault into our ProviderFailure kinds) and on the raw wire.

Assertions are on values and on our behaviour, never on the wording of another library's errors."""

from __future__ import annotations

import os

# litellm fetches its model cost map over the network at import unless told to use the bundled copy.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import asyncio
import http.client
import json
import threading
import time
from typing import Any

import anthropic
import litellm
import pytest

from tests.fakes.provider import FakeProvider, FakeReply, FakeRequest, Script, content_text
from tests.fakes.script import llama_cpp_over_window
from tests.llm import conftest as clients
from tests.llm.conftest import APIS, Outcome, backend_for, collect

litellm.suppress_debug_info = True  # no "Give Feedback" banners in test output

# The fixtures of the tests of our clients: the fake provider and its script, API keys.
script, provider, keys = clients.script, clients.provider, clients.keys

LONG_TEXT = "The quick brown fox jumps over the lazy dog. " * 3


def claude(provider: FakeProvider, timeout: float = 10.0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=provider.anthropic_base, api_key="x", max_retries=0, timeout=timeout
    )


async def openai_call(provider: FakeProvider, content: str = "hi", **kwargs: Any) -> Any:
    kwargs.setdefault("messages", [{"role": "user", "content": content}])
    kwargs.setdefault("model", "openai/gpt-fake")
    return await litellm.acompletion(api_base=provider.openai_base, api_key="x", num_retries=0, **kwargs)


async def openai_stream(provider: FakeProvider, content: str = "hi", **kwargs: Any) -> list[Any]:
    response = await openai_call(
        provider, content, stream=True, stream_options={"include_usage": True}, **kwargs
    )
    return [chunk async for chunk in response]


def chunk_text(chunks: list[Any]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


USER_HI = [{"role": "user", "content": "hi"}]


# --------------------------------------------------------------------------- OpenAI through litellm


async def test_litellm_non_streaming_returns_text_and_usage(provider: FakeProvider, script: Script) -> None:
    script.on(
        contains="hi", reply=FakeReply(text="Hello!", input_tokens=42, output_tokens=5, cache_read_tokens=8)
    )

    response = await openai_call(provider)

    assert response.choices[0].message.content == "Hello!"
    assert response.choices[0].finish_reason == "stop"
    # OpenAI counts cached tokens inside prompt_tokens.
    assert response.usage.prompt_tokens == 50
    assert response.usage.completion_tokens == 5
    assert response.usage.prompt_tokens_details.cached_tokens == 8


async def test_litellm_streaming_returns_text_and_usage(provider: FakeProvider, script: Script) -> None:
    script.on(
        contains="hi", reply=FakeReply(text=LONG_TEXT, input_tokens=30, output_tokens=12, chunk_chars=10)
    )

    chunks = await openai_stream(provider)

    assert chunk_text(chunks) == LONG_TEXT
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == -(-len(LONG_TEXT) // 10)
    # litellm hands the usage chunk on as a chunk of its own, after the one with finish_reason.
    usages = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usages] == [(30, 12)]
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert provider.requests[0].body["stream_options"] == {"include_usage": True}


async def test_usage_is_estimated_from_the_text_by_default(provider: FakeProvider, script: Script) -> None:
    script.on(reply="x" * 40)

    response = await openai_call(provider, "y" * 400)

    assert response.usage.prompt_tokens == 100
    assert response.usage.completion_tokens == 10


# --------------------------------------------------------------------------- Anthropic


async def test_anthropic_non_streaming(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(text="Bonjour", input_tokens=11, output_tokens=3, stop_reason="max_tokens"))

    message = await claude(provider).messages.create(model="claude-fake", max_tokens=50, messages=USER_HI)

    assert message.content[0].text == "Bonjour"
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 3)


async def test_anthropic_create_stream_sends_the_real_event_sequence(
    provider: FakeProvider, script: Script
) -> None:
    script.on(
        reply=FakeReply(
            text=LONG_TEXT,
            chunk_chars=50,
            input_tokens=20,
            output_tokens=9,
            cache_read_tokens=100,
            cache_write_tokens=7,
        )
    )

    stream = await claude(provider).messages.create(
        model="claude-fake", max_tokens=50, messages=USER_HI, stream=True
    )
    events = [event async for event in stream]

    kinds = [event.type for event in events]
    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, delta = events[0], events[-2]
    assert start.message.usage.input_tokens == 20
    assert start.message.usage.cache_read_input_tokens == 100
    assert start.message.usage.cache_creation_input_tokens == 7
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == 9
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == LONG_TEXT


async def test_anthropic_stream_helper_gives_text_and_cache_usage(
    provider: FakeProvider, script: Script
) -> None:
    script.on(
        reply=FakeReply(
            text=LONG_TEXT, input_tokens=20, output_tokens=9, cache_read_tokens=100, cache_write_tokens=7
        )
    )

    async with claude(provider).messages.stream(
        model="claude-fake", max_tokens=50, messages=USER_HI
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert "".join(pieces) == LONG_TEXT
    assert len(pieces) > 1
    assert final.content[0].text == LONG_TEXT
    usage = final.usage
    assert (usage.input_tokens, usage.output_tokens) == (20, 9)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (100, 7)


async def test_litellm_anthropic_provider_streams_from_the_messages_endpoint(
    provider: FakeProvider, script: Script
) -> None:
    script.on(
        api="anthropic",
        reply=FakeReply(text=LONG_TEXT, input_tokens=20, output_tokens=9, cache_read_tokens=4),
    )

    response = await litellm.acompletion(
        model="anthropic/claude-fake",
        api_base=provider.anthropic_base,
        api_key="x",
        num_retries=0,
        messages=[{"role": "system", "content": "Be brief."}, *USER_HI],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in response]

    assert chunk_text(chunks) == LONG_TEXT
    usage = litellm.stream_chunk_builder(chunks).usage
    assert (usage.completion_tokens, usage.cache_read_input_tokens) == (9, 4)
    assert usage.prompt_tokens == 24  # litellm folds cache reads into prompt_tokens, as OpenAI does
    assert provider.requests[0].system == "Be brief."


# --------------------------------------------------------------------------- streaming really streams


async def stream_arrival_times(provider: FakeProvider, api: str) -> tuple[list[float], float]:
    """Arrival time of each text delta, and when the call finished."""
    arrivals: list[float] = []
    if api == "openai":
        response = await openai_call(provider, stream=True, stream_options={"include_usage": True})
        async for chunk in response:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic())
    else:
        async with claude(provider).messages.stream(
            model="claude-fake", max_tokens=50, messages=USER_HI
        ) as stream:
            async for _text in stream.text_stream:
                arrivals.append(time.monotonic())
    return arrivals, time.monotonic()


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_streaming_is_incremental(provider: FakeProvider, script: Script, api: str) -> None:
    script.on(reply=FakeReply(text="abcdefgh" * 8, chunk_chars=8, chunk_delay=0.05))  # 8 deltas, ~0.4 s

    arrivals, finished = await stream_arrival_times(provider, api)

    assert len(arrivals) == 8
    # Buffered, every delta would land at the end together; streamed, they are spread over ~0.4 s.
    assert finished - arrivals[0] >= 0.3
    assert arrivals[-1] - arrivals[0] >= 0.25


# --------------------------------------------------------------------------- what the server recorded


async def test_requests_record_anthropic_blocks_normalised_to_text(
    provider: FakeProvider, script: Script
) -> None:
    script.on(reply="ok")
    system = [
        {"type": "text", "text": "You are a Recursive Language Model."},
        {"type": "text", "text": "Context follows.", "cache_control": {"type": "ephemeral"}},
    ]
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "first", "cache_control": {"type": "ephemeral"}}],
        },
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second"},
    ]

    async with claude(provider).messages.stream(
        model="claude-fake", max_tokens=50, system=system, messages=messages
    ) as stream:
        await stream.get_final_message()

    request = provider.requests[0]
    assert request.api == "anthropic"
    assert request.path == "/v1/messages"
    assert request.model == "claude-fake"
    assert request.stream is True
    assert request.system == "You are a Recursive Language Model.\nContext follows."
    assert request.messages == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second"},
    ]
    assert request.body["system"] == system
    # anthropic 2.x sends the key as a bearer token; older versions used x-api-key.
    assert request.headers.get("authorization") == "Bearer x" or request.headers.get("x-api-key") == "x"
    assert "anthropic-version" in request.headers
    assert request.last_user() == "second"
    assert request.text() == "You are a Recursive Language Model.\nContext follows.\nfirst\nreply\nsecond"


async def test_requests_record_openai_system_messages_joined(provider: FakeProvider, script: Script) -> None:
    script.on(reply="ok")
    messages = [
        {"role": "system", "content": "Rule one."},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "text", "text": "here"}]},
        {"role": "system", "content": "Rule two."},
    ]

    await openai_call(provider, model="openai/gpt-other", messages=messages)

    request = provider.requests[0]
    assert (request.api, request.path, request.model, request.stream) == (
        "openai",
        "/v1/chat/completions",
        "gpt-other",
        False,
    )
    assert request.system == "Rule one.\nRule two."
    assert request.messages == [{"role": "user", "content": "look\nhere"}]
    assert request.headers["authorization"] == "Bearer x"


def test_content_text_flattens_both_apis_blocks() -> None:
    assert content_text(None) == ""
    assert content_text("plain") == "plain"
    assert content_text([{"type": "text", "text": "a"}, "b"]) == "a\nb"
    assert (
        content_text(
            [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "r"}]}]
        )
        == "r"
    )
    assert content_text([{"type": "image_url", "image_url": {"url": "data:..."}}]) == "[image_url]"


# --------------------------------------------------------------------------- scripting


async def test_script_first_matching_rule_wins_and_replies_run_in_order(
    provider: FakeProvider, script: Script
) -> None:
    fruit = script.on(contains="Generate 50 fruit", reply="1. Apple")
    rlm = script.on(
        system_contains="Recursive Language Model",
        replies=["first", FakeReply(text="second"), lambda request: f"third saw {request.last_user()}"],
    )
    script.on(contains="Generate", reply="never: the fruit rule was registered first")
    system = [{"role": "system", "content": "You are a Recursive Language Model."}]

    answers = [(await openai_call(provider, "Generate 50 fruit")).choices[0].message.content]
    for question in ("q1", "q2", "q3"):
        response = await openai_call(provider, messages=[*system, {"role": "user", "content": question}])
        answers.append(response.choices[0].message.content)

    assert answers == ["1. Apple", "first", "second", "third saw q3"]
    assert [r.last_user() for r in rlm.hits] == ["q1", "q2", "q3"]
    assert len(fruit.hits) == 1
    assert script.pending() == []

    exhausted = post(provider, "/v1/chat/completions", {"model": "m", "messages": [*system, USER_HI[0]]})
    assert exhausted.status == 500
    assert "scripted replies exhausted" in json.loads(exhausted.read())["error"]["message"]


async def test_script_matches_on_the_api(provider: FakeProvider, script: Script) -> None:
    script.on(api="anthropic", reply="from the anthropic rule")
    script.on(api="openai", reply="from the openai rule")

    message = await claude(provider).messages.create(model="claude-fake", max_tokens=5, messages=USER_HI)
    assert message.content[0].text == "from the anthropic rule"
    assert (await openai_call(provider)).choices[0].message.content == "from the openai rule"


def test_script_rejects_ambiguous_rules() -> None:
    with pytest.raises(ValueError):
        Script().on(contains="x")
    with pytest.raises(ValueError):
        Script().on(contains="x", reply="a", replies=["b"])
    with pytest.raises(ValueError):
        FakeReply(fault="explode")


# --------------------------------------------------------------------------- faults through our clients


async def through_ours(
    provider: FakeProvider, api: str, model: str = "fake", timeout: float = 10.0
) -> Outcome:
    """A "hi" to ``model`` through our client for ``api``."""
    return await collect(backend_for(provider, api, timeout), f"{api}/{model}")


@pytest.mark.parametrize("api", APIS)
async def test_a_scripted_status_reaches_our_clients_as_its_kind(
    provider: FakeProvider, script: Script, api: str, keys: None
) -> None:
    script.on(model="bad-model", reply=FakeReply(status=404, text="model not found"))
    script.on(model="locked", reply=FakeReply(status=401, text="bad key"))
    script.on(reply="fine")

    missing = await through_ours(provider, api, "bad-model")
    locked = await through_ours(provider, api, "locked")
    fine = await through_ours(provider, api)

    assert (missing.failure.kind, missing.failure.status) == ("not_found", 404)
    assert (locked.failure.kind, locked.failure.status) == ("auth", 401)
    assert not missing.failure.retryable and not locked.failure.retryable
    assert fine.completion is not None and fine.completion.text == "fine" and fine.failure is None


@pytest.mark.parametrize("api", APIS)
async def test_an_unmatched_request_or_a_broken_responder_is_a_server_error(api: str, keys: None) -> None:
    def broken(request: FakeRequest) -> str:
        raise KeyError("oops")

    script = Script()
    script.on(contains="something else", reply="no")
    with FakeProvider(script) as provider:
        unmatched = await through_ours(provider, api)
        body = json.loads(post(provider, "/v1/chat/completions", {"model": "m", "messages": USER_HI}).read())
    assert (unmatched.failure.kind, unmatched.failure.status) == ("server", 500)
    assert body["error"]["message"] == "no scripted reply for: hi"

    with FakeProvider(broken) as provider:
        raised = await through_ours(provider, api)
        body = json.loads(
            post(provider, "/v1/messages", {"model": "c", "max_tokens": 5, "messages": USER_HI}).read()
        )
        assert isinstance(provider.errors[0], KeyError)
    assert (raised.failure.kind, raised.failure.status) == ("server", 500)
    assert "responder raised KeyError" in body["error"]["message"]


async def test_delay_holds_the_answer_back(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(text="late", delay=0.2))
    started = time.monotonic()

    response = await openai_call(provider)

    assert response.choices[0].message.content == "late"
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("api", APIS)
async def test_rate_limit_with_retry_after(
    provider: FakeProvider, script: Script, api: str, keys: None
) -> None:
    script.on(reply=FakeReply(fault="rate_limit", retry_after=7))

    outcome = await through_ours(provider, api)

    assert outcome.failure.kind == "rate_limit" and outcome.failure.status == 429
    assert outcome.failure.retry_after == 7 and outcome.failure.retryable


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [500, 503, 529])
async def test_server_errors(
    provider: FakeProvider, script: Script, api: str, status: int, keys: None
) -> None:
    # The default status of a server_error is 500; other 5xx are asked for explicitly.
    reply = (
        FakeReply(fault="server_error") if status == 500 else FakeReply(fault="server_error", status=status)
    )
    script.on(reply=reply)

    outcome = await through_ours(provider, api)

    assert (outcome.failure.kind, outcome.failure.status) == ("server", status)
    assert outcome.failure.retryable and outcome.deltas == []


@pytest.mark.parametrize("api", APIS)
async def test_malformed_json_fails_our_clients_after_the_good_delta(
    provider: FakeProvider, script: Script, api: str, keys: None
) -> None:
    script.on(reply=FakeReply(fault="malformed", text=LONG_TEXT))

    outcome = await through_ours(provider, api)

    assert outcome.text == LONG_TEXT[:16]  # the one good delta came through before the broken one
    assert outcome.completion is None and outcome.failure is not None and outcome.failure.retryable
    assert outcome.failure.kind == "bad_response"


@pytest.mark.parametrize("api", APIS)
async def test_a_cut_stream_fails_our_clients_after_the_partial_text(
    provider: FakeProvider, script: Script, api: str, keys: None
) -> None:
    script.on(reply=FakeReply(fault="cut_stream", text="x" * 64))  # 4 deltas; 2 are sent

    outcome = await through_ours(provider, api)

    assert outcome.text == "x" * 32
    assert outcome.completion is None and outcome.failure is not None and outcome.failure.retryable
    assert outcome.failure.kind == "dropped" and outcome.failure.status is None


@pytest.mark.parametrize("api", APIS)
async def test_a_stall_times_our_clients_out(
    provider: FakeProvider, script: Script, api: str, keys: None
) -> None:
    script.on(reply=FakeReply(fault="stall"))

    outcome = await through_ours(provider, api, timeout=0.3)

    assert outcome.failure.kind == "timeout" and outcome.failure.retryable


async def test_stop_returns_at_once_with_a_stalled_request_in_flight() -> None:
    stalled = threading.Event()

    def responder(request: FakeRequest) -> FakeReply:
        stalled.set()
        return FakeReply(fault="stall")

    provider = FakeProvider(responder).start()
    call = asyncio.create_task(through_ours(provider, "anthropic", timeout=30))
    assert await asyncio.to_thread(stalled.wait, 5)

    started = time.monotonic()
    await asyncio.to_thread(provider.stop)

    assert time.monotonic() - started < 1.0
    outcome = await asyncio.wait_for(call, 5)  # the server dropped the connection
    assert outcome.failure.kind == "dropped" and outcome.failure.retryable


# --------------------------------------------------------------------------- the raw wire


def post(provider: FakeProvider, path: str, body: dict) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", int(provider.url.rsplit(":", 1)[1]), timeout=5)
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    return connection.getresponse()


def test_json_replies_have_content_length_and_sse_is_chunked(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(text="hello world", chunk_chars=5))

    plain = post(provider, "/v1/chat/completions", {"model": "m", "messages": USER_HI})
    body = plain.read()
    assert plain.getheader("Content-Length") == str(len(body))
    assert plain.getheader("Content-Type") == "application/json"

    streamed = post(provider, "/v1/chat/completions", {"model": "m", "messages": USER_HI, "stream": True})
    assert streamed.getheader("Transfer-Encoding") == "chunked"
    assert streamed.getheader("Content-Type").startswith("text/event-stream")
    events = streamed.read().decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    contents = [
        json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[:-2] if "usage" not in e
    ]
    assert contents == ["", "hello", " worl", "d", None]
    assert all("usage" not in e for e in events)  # no include_usage, no usage chunk


def test_anthropic_sse_events_on_the_wire(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(text="hi", input_tokens=3, output_tokens=1, cache_read_tokens=2))

    response = post(
        provider, "/v1/messages", {"model": "c", "max_tokens": 5, "messages": USER_HI, "stream": True}
    )
    events = [e for e in response.read().decode().split("\n\n") if e]

    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = json.loads(events[0].split("\n")[1].removeprefix("data: "))
    assert start["message"]["usage"] == {
        "input_tokens": 3,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2,
    }


def test_a_stream_error_is_an_error_event_after_half_the_text(provider: FakeProvider, script: Script) -> None:
    script.on(api="anthropic", reply=FakeReply(fault="stream_error", text="abcdefgh", chunk_chars=2))
    script.on(api="openai", contains="limit", reply=FakeReply(fault="stream_error", status=429, text="abcd"))
    script.on(api="openai", reply=FakeReply(fault="stream_error", text="abcd", chunk_chars=2))

    anthropic_reply = post(
        provider, "/v1/messages", {"model": "c", "max_tokens": 5, "messages": USER_HI, "stream": True}
    )
    assert anthropic_reply.status == 200  # the failure comes inside the stream
    events = [e for e in anthropic_reply.read().decode().split("\n\n") if e]
    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert names == ["message_start", "content_block_start", "ping", *["content_block_delta"] * 2, "error"]
    deltas = [json.loads(e.split("\n")[1].removeprefix("data: "))["delta"]["text"] for e in events[3:5]]
    assert deltas == ["ab", "cd"]
    assert json.loads(events[-1].split("\n")[1].removeprefix("data: ")) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "overloaded (fake provider)"},
    }

    def openai_events(content: str) -> list[str]:
        response = post(
            provider,
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": content}], "stream": True},
        )
        assert response.status == 200
        return [e for e in response.read().decode().split("\n\n") if e]

    chunks = openai_events("hi")
    assert "data: [DONE]" not in chunks  # the stream never completes
    contents = [json.loads(c[6:])["choices"][0]["delta"].get("content") for c in chunks[:-1]]
    assert contents == ["", "ab"]
    assert json.loads(chunks[-1][6:]) == {
        "error": {
            "message": "overloaded (fake provider)",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    limited = json.loads(openai_events("limit")[-1][6:])["error"]
    assert (limited["type"], limited["code"]) == ("requests", "rate_limit_exceeded")

    # A request that is not streamed has no stream to fail in: it gets the error as an HTTP error.
    plain = post(provider, "/v1/messages", {"model": "c", "max_tokens": 5, "messages": USER_HI})
    assert plain.status == 529
    assert json.loads(plain.read())["error"]["type"] == "overloaded_error"


def test_error_bodies_on_the_wire(provider: FakeProvider, script: Script) -> None:
    script.on(api="openai", reply=FakeReply(fault="rate_limit", retry_after=1.5, text="slow down"))
    script.on(api="anthropic", reply=FakeReply(fault="server_error", status=529, retry_after=2))

    limited = post(provider, "/v1/chat/completions", {"model": "m", "messages": USER_HI})
    assert limited.status == 429
    assert limited.getheader("Retry-After") == "1.5"
    assert json.loads(limited.read()) == {
        "error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }

    overloaded = post(provider, "/v1/messages", {"model": "c", "max_tokens": 5, "messages": USER_HI})
    assert overloaded.status == 529
    assert overloaded.getheader("Retry-After") == "2"
    assert json.loads(overloaded.read())["error"]["type"] == "overloaded_error"


STREAMED = {"stream": True, "stream_options": {"include_usage": True}}
ANTHROPIC_HI = {"model": "c", "max_tokens": 5, "messages": USER_HI}
OPENAI_HI = {"model": "m", "messages": USER_HI}


def sse_events(response: http.client.HTTPResponse) -> list[str]:
    return [e for e in response.read().decode().split("\n\n") if e]


def event_data(event: str) -> dict:
    return json.loads(event.split("data: ", 1)[1])


def test_an_empty_stream_is_a_200_with_no_events(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(fault="empty_stream", text="never sent"))

    for path, body in (("/v1/chat/completions", OPENAI_HI), ("/v1/messages", ANTHROPIC_HI)):
        streamed = post(provider, path, body | STREAMED)
        assert streamed.status == 200
        assert streamed.getheader("Content-Type").startswith("text/event-stream")
        assert streamed.read() == b""

    # Not streamed: a reply with no text and no usage.
    plain = json.loads(post(provider, "/v1/chat/completions", OPENAI_HI).read())
    assert plain["choices"][0]["message"]["content"] == "" and "usage" not in plain
    plain = json.loads(post(provider, "/v1/messages", ANTHROPIC_HI).read())
    assert plain["content"] == [] and "usage" not in plain


def test_a_reply_without_usage_reports_none_anywhere(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(text="hello", report_usage=False))

    chunks = sse_events(post(provider, "/v1/chat/completions", OPENAI_HI | STREAMED))
    assert chunks[-1] == "data: [DONE]"
    assert all("usage" not in event_data(c) for c in chunks[:-1])  # even though include_usage was asked
    assert "".join(event_data(c)["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == "hello"

    events = sse_events(post(provider, "/v1/messages", ANTHROPIC_HI | STREAMED))
    start = event_data(events[0])
    delta = next(event_data(e) for e in events if e.startswith("event: message_delta"))
    assert "usage" not in start["message"] and "usage" not in delta
    assert delta["delta"]["stop_reason"] == "end_turn"

    assert "usage" not in json.loads(post(provider, "/v1/chat/completions", OPENAI_HI).read())
    assert "usage" not in json.loads(post(provider, "/v1/messages", ANTHROPIC_HI).read())


@pytest.mark.parametrize(
    ("shape", "error"),
    [
        (
            "llama_cpp",
            {
                "message": "This model's maximum context length is 512 tokens. However, you requested "
                "600 tokens (600 in the messages, None in the completion). Please reduce the length of "
                "the messages or completion.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            },
        ),
        (
            "openai",
            {
                "message": "This model's maximum context length is 512 tokens. However, your messages "
                "resulted in 600 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            },
        ),
        (
            "llama_server",
            {
                "code": 400,
                "message": "request (600 tokens) exceeds the available context size (512 tokens), "
                "try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 600,
                "n_ctx": 512,
            },
        ),
    ],
)
def test_a_context_window_error_on_the_openai_wire(
    provider: FakeProvider, script: Script, shape: str, error: dict
) -> None:
    script.on(reply=FakeReply(fault="context_window", window=512, input_tokens=600, window_shape=shape))

    for body in (OPENAI_HI, OPENAI_HI | STREAMED):
        response = post(provider, "/v1/chat/completions", body)
        assert response.status == 400
        assert json.loads(response.read()) == {"error": error}


def test_a_context_window_error_on_the_anthropic_wire(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(fault="context_window", window=200_000, input_tokens=210_000))

    response = post(provider, "/v1/messages", ANTHROPIC_HI | STREAMED)

    assert response.status == 400
    assert json.loads(response.read()) == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    }


def test_the_context_window_fault_has_default_sizes() -> None:
    assert FakeReply(fault="context_window").window_sizes() == (512, 1024)
    assert FakeReply(fault="context_window", window=100).window_sizes() == (100, 200)


def test_llama_cpp_over_its_window_streams_nothing_and_says_why_when_not_streamed(
    provider: FakeProvider, script: Script
) -> None:
    script.on(reply=llama_cpp_over_window(window=512, prompt_tokens=600))

    streamed = post(provider, "/v1/chat/completions", OPENAI_HI | STREAMED)
    assert (streamed.status, streamed.read()) == (200, b"")

    plain = post(provider, "/v1/chat/completions", OPENAI_HI)
    assert plain.status == 400
    error = json.loads(plain.read())["error"]
    assert error["code"] == "context_length_exceeded"
    assert "maximum context length is 512 tokens" in error["message"]
    assert [r.stream for r in provider.requests] == [True, False]


def test_a_cut_reply_is_length_on_the_openai_wire(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(text="cut here", stop_reason="max_tokens"))

    plain = json.loads(post(provider, "/v1/chat/completions", OPENAI_HI).read())
    assert plain["choices"][0]["finish_reason"] == "length"
    chunks = sse_events(post(provider, "/v1/chat/completions", OPENAI_HI | STREAMED))
    reasons = [
        choice["finish_reason"]
        for c in chunks[:-1]
        for choice in event_data(c)["choices"]
        if choice["finish_reason"]
    ]
    assert reasons == ["length"]
    assert json.loads(post(provider, "/v1/messages", ANTHROPIC_HI).read())["stop_reason"] == "max_tokens"


def test_unknown_paths_and_bad_bodies(provider: FakeProvider) -> None:
    assert post(provider, "/v1/embeddings", {}).status == 404
    connection = http.client.HTTPConnection("127.0.0.1", int(provider.url.rsplit(":", 1)[1]), timeout=5)
    connection.request("POST", "/v1/messages", b"{not json", {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read())["error"]["type"] == "invalid_request_error"
    assert provider.requests == []


def test_url_needs_a_running_server() -> None:
    provider = FakeProvider(lambda request: "x")
    with pytest.raises(RuntimeError):
        _ = provider.url
    provider.stop()  # stopping a provider that never started is harmless
    with provider:
        assert provider.url.startswith("http://127.0.0.1:")
        assert provider.openai_base == provider.url + "/v1"
        assert provider.anthropic_base == provider.url
