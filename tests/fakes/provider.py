"""A loopback HTTP server that fakes LLM providers for end-to-end tests.

It speaks two wire formats closely enough that the real client libraries work against it unmodified:

* OpenAI chat completions, ``POST {url}/v1/chat/completions`` (what ``litellm`` with ``openai/<model>``
  and ``api_base=provider.openai_base`` sends), JSON or SSE ``data: {...}`` chunks ending in ``data: [DONE]``.
* Anthropic messages, ``POST {url}/v1/messages`` (what ``anthropic.AsyncAnthropic(base_url=provider.url)``
  sends), JSON or the SSE event sequence ``message_start`` ... ``message_stop``.

What to answer is decided by a *responder*, ``responder(FakeRequest) -> FakeReply | str``; ``Script`` is
a ready-made responder keyed on the request. Replies can also inject faults (rate limits, 5xx, broken
JSON, a connection cut mid-stream, an error event mid-stream, a stall). The server is a real socket
server on 127.0.0.1 so that subprocesses (the ``rlm`` command) can use it as well as in-process tests.

    script = Script()
    script.on(contains="hello", reply="Hi there")
    with FakeProvider(script) as provider:
        ...  # point a client at provider.openai_base or provider.anthropic_base
        assert provider.requests[0].messages[-1]["content"] == "hello"

This module is the import surface; the pieces live next to it, one job each:

* ``script``: ``FakeRequest``, ``FakeReply`` and its faults, responders, ``Rule`` and ``Script``.
* ``parsing``: a request path and body of either API -> ``FakeRequest`` (``route``, ``content_text``).
* ``wire``: what both formats share (usage, SSE framing, ``StreamPlan``, default error messages).
* ``openai_wire`` / ``anthropic_wire``: each API's JSON bodies, SSE events and error bodies.
* ``transport``: the threaded HTTP server and handler (chunked bodies and streams, abort, client gone).
* ``server``: ``FakeProvider``, which answers each request, playing latency and faults.
"""

from __future__ import annotations

from tests.fakes.parsing import content_text, parse_request, route
from tests.fakes.script import (
    FAULTS,
    Api,
    FakeReply,
    FakeRequest,
    ReplySpec,
    Responder,
    Rule,
    Script,
    as_reply,
)
from tests.fakes.server import FakeProvider

__all__ = [
    "FAULTS",
    "Api",
    "FakeProvider",
    "FakeReply",
    "FakeRequest",
    "ReplySpec",
    "Responder",
    "Rule",
    "Script",
    "as_reply",
    "content_text",
    "parse_request",
    "route",
]
