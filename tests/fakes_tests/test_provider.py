"""The fake provider, checked with the real client libraries (litellm, anthropic) and on the raw wire."""

from __future__ import annotations

import os

# litellm fetches its model cost map over the network at import unless told to use the bundled copy.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import litellm
import pytest
from litellm.exceptions import MidStreamFallbackError

from tests.fakes.provider import FakeProvider, FakeReply, FakeRequest, Script, content_text

litellm.suppress_debug_info = True  # no "Give Feedback" banners in test output

LONG_TEXT = "The quick brown fox jumps over the lazy dog. " * 3


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def provider(script: Script) -> Iterator[FakeProvider]:
    with FakeProvider(script) as running:
        yield running


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

    with pytest.raises(litellm.InternalServerError, match="scripted replies exhausted"):
        await openai_call(provider, messages=[*system, {"role": "user", "content": "q4"}])


async def test_script_matches_on_model_and_api(provider: FakeProvider, script: Script) -> None:
    script.on(model="bad-model", reply=FakeReply(status=404, text="model not found"))
    script.on(api="anthropic", reply="from the anthropic rule")
    script.on(api="openai", reply="from the openai rule")

    with pytest.raises(anthropic.NotFoundError, match="model not found"):
        await claude(provider).messages.create(model="bad-model", max_tokens=5, messages=USER_HI)
    with pytest.raises(litellm.NotFoundError, match="model not found"):
        await openai_call(provider, model="openai/bad-model")
    message = await claude(provider).messages.create(model="claude-fake", max_tokens=5, messages=USER_HI)
    assert message.content[0].text == "from the anthropic rule"
    assert (await openai_call(provider)).choices[0].message.content == "from the openai rule"


async def test_unmatched_request_gives_a_readable_500(provider: FakeProvider, script: Script) -> None:
    script.on(contains="something else", reply="no")

    with pytest.raises(anthropic.InternalServerError) as caught:
        await claude(provider).messages.create(
            model="claude-fake", max_tokens=5, messages=[{"role": "user", "content": "What is 2+2?"}]
        )
    assert caught.value.body["error"]["message"] == "no scripted reply for: What is 2+2?"
    with pytest.raises(litellm.InternalServerError, match=r"no scripted reply for: What is 2\+2\?"):
        await openai_call(provider, "What is 2+2?")


def test_script_rejects_ambiguous_rules() -> None:
    with pytest.raises(ValueError):
        Script().on(contains="x")
    with pytest.raises(ValueError):
        Script().on(contains="x", reply="a", replies=["b"])
    with pytest.raises(ValueError):
        FakeReply(fault="explode")


async def test_responder_exceptions_become_500s_and_are_kept() -> None:
    def broken(request: FakeRequest) -> str:
        raise KeyError("oops")

    with FakeProvider(broken) as provider:
        with pytest.raises(anthropic.InternalServerError, match="responder raised KeyError"):
            await claude(provider).messages.create(model="claude-fake", max_tokens=5, messages=USER_HI)
        assert isinstance(provider.errors[0], KeyError)


async def test_delay_holds_the_answer_back(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(text="late", delay=0.2))
    started = time.monotonic()

    response = await openai_call(provider)

    assert response.choices[0].message.content == "late"
    assert time.monotonic() - started >= 0.2


# --------------------------------------------------------------------------- faults through the libraries


async def test_rate_limit_with_retry_after(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(fault="rate_limit", retry_after=7))

    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude(provider).messages.create(model="claude-fake", max_tokens=5, messages=USER_HI)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"]["type"] == "rate_limit_error"

    with pytest.raises(litellm.RateLimitError) as raised:
        await openai_stream(provider)
    # litellm's exception carries a synthetic response; the real headers are kept aside.
    assert raised.value.litellm_response_headers["retry-after"] == "7"


@pytest.mark.parametrize(
    ("status", "anthropic_error", "litellm_error"),
    [
        (500, anthropic.InternalServerError, litellm.InternalServerError),
        (503, anthropic.ServiceUnavailableError, litellm.ServiceUnavailableError),
        (529, anthropic.OverloadedError, litellm.APIError),
    ],
)
async def test_server_errors(
    provider: FakeProvider, script: Script, status: int, anthropic_error: type, litellm_error: type
) -> None:
    # The default status of a server_error is 500; other 5xx are asked for explicitly.
    reply = (
        FakeReply(fault="server_error") if status == 500 else FakeReply(fault="server_error", status=status)
    )
    script.on(reply=reply)

    with pytest.raises(anthropic_error) as caught:
        async with claude(provider).messages.stream(
            model="claude-fake", max_tokens=5, messages=USER_HI
        ) as stream:
            await stream.get_final_message()
    assert caught.value.status_code == status
    assert isinstance(caught.value, anthropic.InternalServerError)

    with pytest.raises(litellm_error) as raised:
        await openai_call(provider)
    assert raised.value.status_code == status


async def test_auth_and_not_found_statuses(provider: FakeProvider, script: Script) -> None:
    script.on(model="locked", reply=FakeReply(status=401, text="bad key"))
    script.on(reply=FakeReply(status=404, text="no such model"))

    with pytest.raises(anthropic.AuthenticationError, match="bad key"):
        await claude(provider).messages.create(model="locked", max_tokens=5, messages=USER_HI)
    with pytest.raises(litellm.AuthenticationError, match="bad key"):
        await openai_call(provider, model="openai/locked")
    with pytest.raises(anthropic.NotFoundError) as caught:
        await claude(provider).messages.create(model="other", max_tokens=5, messages=USER_HI)
    assert caught.value.body["error"] == {"type": "not_found_error", "message": "no such model"}


async def test_malformed_json_fails_the_clients(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(fault="malformed", text=LONG_TEXT))
    client = claude(provider)

    with pytest.raises(json.JSONDecodeError):
        await client.messages.create(model="claude-fake", max_tokens=5, messages=USER_HI)

    received: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        async with client.messages.stream(model="claude-fake", max_tokens=5, messages=USER_HI) as stream:
            async for text in stream.text_stream:
                received.append(text)
    assert received == [LONG_TEXT[:16]]  # the one good delta came through before the broken one

    with pytest.raises(litellm.InternalServerError):
        await openai_call(provider)
    # A failure after the first chunk is wrapped as MidStreamFallbackError (a ServiceUnavailableError).
    with pytest.raises(MidStreamFallbackError, match="Unterminated string"):
        await openai_stream(provider)


async def test_cut_stream_fails_the_clients_after_partial_text(
    provider: FakeProvider, script: Script
) -> None:
    script.on(reply=FakeReply(fault="cut_stream", text="x" * 64))  # 4 deltas; 2 are sent
    client = claude(provider)

    received: list[str] = []
    with pytest.raises(Exception, match="incomplete chunked read"):  # httpx's RemoteProtocolError, unwrapped
        async with client.messages.stream(model="claude-fake", max_tokens=5, messages=USER_HI) as stream:
            async for text in stream.text_stream:
                received.append(text)
    assert "".join(received) == "x" * 32

    with pytest.raises(anthropic.APIConnectionError):  # non-streaming: no response at all
        await client.messages.create(model="claude-fake", max_tokens=5, messages=USER_HI)

    chunks: list[Any] = []
    with pytest.raises(MidStreamFallbackError, match="payload is not completed"):  # aiohttp's words
        response = await openai_call(provider, stream=True, stream_options={"include_usage": True})
        async for chunk in response:
            chunks.append(chunk)
    assert chunk_text(chunks) == "x" * 32

    with pytest.raises(litellm.InternalServerError, match="Connection error"):
        await openai_call(provider)


async def test_stall_times_the_clients_out(provider: FakeProvider, script: Script) -> None:
    script.on(reply=FakeReply(fault="stall"))

    with pytest.raises(anthropic.APITimeoutError):
        await claude(provider, timeout=0.3).messages.create(
            model="claude-fake", max_tokens=5, messages=USER_HI
        )
    with pytest.raises(litellm.Timeout):
        await openai_call(provider, timeout=0.3)


async def test_stop_returns_at_once_with_a_stalled_request_in_flight() -> None:
    stalled = threading.Event()

    def responder(request: FakeRequest) -> FakeReply:
        stalled.set()
        return FakeReply(fault="stall")

    provider = FakeProvider(responder).start()
    call = asyncio.create_task(
        claude(provider, timeout=30).messages.create(model="claude-fake", max_tokens=5, messages=USER_HI)
    )
    assert await asyncio.to_thread(stalled.wait, 5)

    started = time.monotonic()
    await asyncio.to_thread(provider.stop)

    assert time.monotonic() - started < 1.0
    with pytest.raises(anthropic.APIConnectionError):  # the server dropped the connection
        await asyncio.wait_for(call, 5)


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
