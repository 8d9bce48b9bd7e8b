"""What both SDK clients (``anthropic_client``, ``litellm_client``) do with a reply once their SDK
has read it: ``StreamingBackend``, whose subclasses say only how to stream one request and how to
make one that is not streamed.

- A stream with no text and no usage is a failure, ``empty_reply``: it is what a local server
  (llama-cpp-python) streams when the prompt is over its window. Its ``fallback`` is one request
  that is not streamed (``_once``), made when the retries of the empty stream run out.
- A stream that ended with no stop reason is ``dropped``: the message was not complete.
- A reply whose server reported no usage (llama.cpp, an Anthropic-compatible local server) gets
  counts estimated from the prompt and the text, marked ``estimated``; either way it is priced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from rlm_tui.llm import pricing
from rlm_tui.llm.base import Completion, ModelRequest, TextDelta, Usage, estimate_tokens
from rlm_tui.llm.failures import ProviderFailure, host_of


@dataclass
class Heard:
    """What a reply said besides its text, as the backend read it from its SDK."""

    usage: Usage | None = None  # as the server reported it, unpriced (None: it reported none)
    raw: Any = None  # the SDK's own usage record, for a cost function that wants it (litellm's)
    stop_reason: str | None = None  # None from a stream: it ended before the message was complete
    # the model that answered, priced as such, when not the name asked for (one of its deployments)
    model: str | None = None


class StreamingBackend:
    """A model call through one SDK: ``stream`` gives the text as it comes, then the completion."""

    @property
    def url(self) -> str | None:
        """Where requests go (the API base), for failures and their messages."""
        raise NotImplementedError

    def _texts(self, request: ModelRequest, heard: Heard) -> AsyncIterator[str]:
        """One streamed request: its text deltas, filling in ``heard`` on the way; every failure a
        ``ProviderFailure``."""
        raise NotImplementedError

    async def _request(self, request: ModelRequest) -> tuple[str, Heard]:
        """One request that is not streamed: its text and what else it said."""
        raise NotImplementedError

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        parts: list[str] = []
        heard = Heard()
        # closed with this stream: a caller that stops reading closes the SDK's stream at once
        try:
            async with aclosing(self._texts(request, heard)) as texts:
                async for text in texts:
                    parts.append(text)
                    yield TextDelta(text)
        except ProviderFailure as failure:
            if failure.kind == "dropped" and not parts and failure.fallback is None:
                # llama-cpp-python aborts the stream of a prompt over its window as often as it
                # sends it empty: a stream that died before its first word gets the same one
                # request that is not streamed, which says why
                failure.fallback = lambda: self._once(request)
            raise
        text = "".join(parts)
        if not text and heard.usage is None:
            raise self._empty(request)
        if heard.stop_reason is None:
            raise ProviderFailure(
                "dropped",
                f"the reply stream from {host_of(self.url)} ended before the message was complete",
                url=self.url,
            )
        yield Completion(text, await priced(request, text, heard), heard.stop_reason)

    def _empty(self, request: ModelRequest, *, fallback: bool = True) -> ProviderFailure:
        return ProviderFailure(
            "empty_reply",
            f"{host_of(self.url)} sent an empty reply (no text, no usage)",
            url=self.url,
            # Why a second kind of request: llama-cpp-python's server answers a streamed prompt
            # that is over its window with a 200 and an empty stream, and says why (a 400,
            # context_length_exceeded, with both sizes) only to a request that is not streamed. So
            # when the retries of the empty stream run out, one such request is made, once; if the
            # server answers it after all, that answer is the reply.
            fallback=(lambda: self._once(request)) if fallback else None,
        )

    async def _once(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        """One request that is not streamed, given as a stream: its text, then its completion."""
        try:
            text, heard = await self._request(request)
        except ProviderFailure as failure:
            if failure.kind != "dropped":
                raise
            # the client's pool may hand out the connection the server closed when it aborted the
            # stream: that fails at once, before the server hears anything; a second try gets a
            # fresh connection
            text, heard = await self._request(request)
        if not text and heard.usage is None:
            raise self._empty(request, fallback=False)
        if text:
            yield TextDelta(text)
        yield Completion(text, await priced(request, text, heard), heard.stop_reason)


async def priced(request: ModelRequest, text: str, heard: Heard) -> Usage:
    """The call's usage, priced: as the server reported it, or (none reported) estimated from the
    prompt and the reply and marked so."""
    if heard.usage is None:
        prompt = "\n".join([request.system or "", *(m.content for m in request.messages)])
        estimate = Usage(
            input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(text), estimated=True
        )
        return await pricing.priced(heard.model or request.model, estimate)
    return await pricing.priced(heard.model or request.model, heard.usage, raw=heard.raw)
