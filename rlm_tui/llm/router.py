"""The model client the app uses: routes anthropic/* to the Anthropic SDK, OpenAI-compatible
endpoints to the light ``openai`` SDK client, and every other provider to litellm (imported only
then), with retries (see ``routes``), each endpoint's concurrency adapted to its 429s
(``concurrency``). The root model and the sub-model may each have their own API base; with
only the root's set, a sub-call of the root model's provider uses it too (a key for that endpoint
is never sent to the provider's public one).

It also knows each model's limits (see ``llm.limits``, asking the endpoint through
``llm.endpoints``) and counts prompts in its tokens (``llm.token_counts``): both once per model and
endpoint, then remembered. ``learn`` takes a window a server named in an error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Future
from dataclasses import replace
from types import EllipsisType
from typing import Any

from rlm_tui.errors import ContextWindowError
from rlm_tui.llm import litellm_loader, pricing, routes
from rlm_tui.llm.base import Completion, Message, ModelLimits, ModelRequest, TextDelta, TokenCount
from rlm_tui.llm.concurrency import AdaptiveLimit
from rlm_tui.llm.deployments import Pool
from rlm_tui.llm.endpoints import ASK_AGAIN_AFTER, PROBE_TIMEOUT, probe, served_name, server_root
from rlm_tui.llm.failures import ProviderFailure
from rlm_tui.llm.limits import LEARNED, ConfiguredLimits, Endpoint, Resolved, resolve
from rlm_tui.llm.models import provider_of
from rlm_tui.llm.remembered import Remembered
from rlm_tui.llm.retry import RetryPolicy, stream_with_retries
from rlm_tui.llm.token_counts import (
    LitellmTokenizer,
    TokenCounter,
    Tokenizer,
    litellm_counts_exactly,
    llama_cpp_python_tokenizer,
    llama_cpp_tokenizer,
    vllm_tokenizer,
)


class ModelRouter:
    def __init__(
        self,
        *,
        api_base: str | None = None,
        sub_api_base: str | None = None,
        root_model: str | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = 600.0,
        limits: ConfiguredLimits | None = None,
        probe_timeout: float = PROBE_TIMEOUT,
        prefetch: bool = False,
        pools: Mapping[str, Pool] | None = None,
    ) -> None:
        self.api_base = api_base
        # model names that stand for several deployments, spread by litellm's Router (deployments)
        self.pools: Mapping[str, Pool] = dict(pools or {})
        self.sub_api_base = sub_api_base
        # Given, or learnt from the root model's own calls (every turn starts with one).
        self.root_model = root_model
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.configured = limits or ConfiguredLimits()
        self.probe_timeout = probe_timeout
        self._backends: dict[tuple[str, str | None, str | None], Any] = {}
        self._adaptive: dict[int, AdaptiveLimit] = {}  # a backend's id -> its endpoint's limit
        # (api base, model) -> what the server said; a server that answered nothing is asked again
        self._endpoints: Remembered[tuple[str, str], Endpoint] = Remembered(
            self._probe, lambda said: None if said.answered else ASK_AGAIN_AFTER
        )
        # (model, api base) -> its limits; (model, api base) -> a window a server named in an error
        self._resolved: Remembered[tuple[str, str | None], Resolved] = Remembered(
            self._resolve, lambda found: None if found.settled else ASK_AGAIN_AFTER
        )
        self._learned: dict[tuple[str, str | None], int] = {}
        self._counters: dict[tuple[str, str | None], TokenCounter] = {}
        self._tokenizers: dict[tuple[str, str | None], list[Tokenizer]] = {}
        # (api base, model) -> its endpoint's answer, asked in a thread before any event loop runs
        self._early: dict[tuple[str, str], Future[Endpoint]] = {}
        if prefetch:
            self._ask_early()
        if root_model is not None and routes.route_of(root_model) == routes.LITELLM:
            # The root model's calls go through litellm, whose import takes seconds: start it now,
            # in the background. (An Anthropic call starts it itself, once its request is out.)
            pricing.preload()

    def base_for(self, request: ModelRequest) -> str | None:
        """Depth 0 is the root model; sub-calls and child RLMs (depth > 0) use the sub-model's base,
        or, when that is unset, the root's base if they go to the root model's provider."""
        if request.depth == 0:
            self.root_model = request.model
            return self.api_base
        if self.sub_api_base:
            return self.sub_api_base
        if self.root_model is not None and provider_of(request.model) == provider_of(self.root_model):
            return self.api_base
        return None

    def _backend(self, request: ModelRequest) -> Any:
        base = self.base_for(request)
        pool = self.pools.get(request.model)
        if pool is not None:  # its deployments say where its calls go
            backend = self._backends.get(("deployments", request.model, None))
            if backend is None:
                from rlm_tui.llm.deployments_backend import DeploymentsBackend

                backend = DeploymentsBackend(pool, self.pools, timeout=self.timeout)
                self._backends[("deployments", request.model, None)] = backend
            return backend
        route = routes.route_of(request.model)
        if route == routes.OPENAI:
            base = routes.openai_base(request.model, base)
            if base is None:  # a local server's provider with no API base configured
                route = routes.LITELLM  # litellm says what it needs
        key = (route, base, routes.openai_key(request.model) if route == routes.OPENAI else None)
        backend = self._backends.get(key)
        if backend is None:
            if route == routes.ANTHROPIC:
                from rlm_tui.llm.anthropic_client import AnthropicBackend

                backend = AnthropicBackend(api_key=None, base_url=base, timeout=self.timeout)
            elif route == routes.OPENAI:
                from rlm_tui.llm.openai_client import OpenAIBackend

                backend = OpenAIBackend(base_url=base or "", api_key=key[2], timeout=self.timeout)
            else:
                from rlm_tui.llm.litellm_client import LiteLLMBackend

                backend = LiteLLMBackend(api_base=base, timeout=self.timeout)
            self._backends[key] = backend
        return backend

    async def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        backend = self._backend(request)
        limit = self._adaptive.get(id(backend))
        if limit is None:
            limit = self._adaptive[id(backend)] = AdaptiveLimit()

        async def attempt() -> AsyncIterator[TextDelta | Completion]:
            """One attempt within the endpoint's adaptive limit; a 429 lowers it."""
            sent = await limit.acquire()
            answered = False
            try:
                async for item in backend.stream(request):
                    yield item
                answered = True
            except ProviderFailure as failure:
                if failure.kind == "rate_limit":
                    failure.crowded = limit.in_flight > 1  # refused with others in flight
                    limit.refused(sent)
                raise
            finally:
                limit.release(answered=answered)

        try:
            async for item in stream_with_retries(attempt, request, self.policy):
                yield item
        except ContextWindowError as exc:  # the server named its window: every later call knows it
            if exc.window:
                self.learn(request.model, exc.window, api_base=self.base_for(request))
            raise

    async def aclose(self) -> None:
        """Close the SDK clients' connections (before the event loop that opened them ends)."""
        for backend in list(self._backends.values()):
            client = getattr(backend, "_client", None)
            if client is not None and hasattr(client, "close"):
                try:
                    await client.close()
                except Exception:  # a connection already gone: nothing left to close
                    pass
        self._backends.clear()
        self._adaptive.clear()

    # -- limits and token counts ---------------------------------------------------------------

    def endpoint_for(self, model: str) -> str | None:
        """The API base ``model``'s calls go to: the root model's for the root model (or while no
        root model is known), else as ``base_for`` sends a sub-call; None for a name that stands
        for several deployments (each has its own)."""
        if model in self.pools:
            return None
        if self.root_model is None or model == self.root_model:
            return _normal(self.api_base)
        if self.sub_api_base:
            return _normal(self.sub_api_base)
        if provider_of(model) == provider_of(self.root_model):
            return _normal(self.api_base)
        return None

    async def limits(self, model: str) -> ModelLimits:
        return (await self.resolve(model)).limits

    async def resolve(self, model: str) -> Resolved:
        """``model``'s limits, each with where it came from (config, the endpoint, litellm's map, a
        server's error): worked out once per model and endpoint, then remembered."""
        base = self.endpoint_for(model)
        found = await self._resolved.get((model, base))
        learned = self._learned.get((model, base))
        if learned is not None:
            found = replace(found, context_window=learned, window_source=LEARNED)
        return found

    def learn(self, model: str, window: int, api_base: str | EllipsisType | None = ...) -> None:
        """Remember the window a server named when it refused a prompt (llama.cpp: "exceed context
        window of 512"; ``ProviderFailure.window``): from now on ``limits(model)`` says it, as
        "learned from the server's error", over the config and everything else (the server is the
        one that enforces it). ``api_base`` is where that call went; by default, where this router
        sends ``model``."""
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            return
        base = self.endpoint_for(model) if api_base is ... else _normal(api_base)
        self._learned[(model, base)] = window

    async def _resolve(self, key: tuple[str, str | None]) -> Resolved:
        model, base = key
        endpoint = None
        if base is not None:

            async def endpoint() -> Endpoint:
                return await self._endpoints.get((base, model))

        try:
            return await resolve(model, self.configured.of(model), endpoint)
        except Exception:  # never fatal: an unknown window is said as unknown
            return Resolved(settled=False)

    def _ask_early(self) -> None:
        """Ask the root model's endpoint what it knows while the session opens (a worker starts, the
        store opens): the first call needs its window, and the probe would otherwise make it
        wait. Only when the config does not already say the window (then no probe is made)."""
        base, model = _normal(self.api_base), self.root_model
        if base is None or model is None or self.configured.of(model).context_window is not None:
            return
        future: Future[Endpoint] = Future()
        future.set_running_or_notify_cancel()

        def ask() -> None:
            try:
                future.set_result(asyncio.run(probe(base, model, timeout=self.probe_timeout)))
            except BaseException as exc:  # never fatal: asked again, the usual way
                future.set_exception(exc)

        self._early[(base, model)] = future
        threading.Thread(target=ask, name="probe-endpoint", daemon=True).start()

    async def _probe(self, key: tuple[str, str]) -> Endpoint:
        base, model = key
        early = self._early.pop(key, None)
        if early is not None:
            try:
                return await asyncio.wrap_future(early)
            except Exception:
                pass
        return await probe(base, model, timeout=self.probe_timeout)

    async def count_tokens(self, model: str, system: str | None, messages: list[Message]) -> TokenCount:
        """The prompt in the model's tokens: its server's tokenizer, else litellm's where it counts
        with the model's own, else a generous estimate (see ``llm.token_counts.TokenCounter``)."""
        key = (model, self.endpoint_for(model))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = TokenCounter(lambda: self._tokenizers_for(*key))
        window = (await self.resolve(model)).context_window
        return await counter.count(system, messages, window)

    async def _tokenizers_for(self, model: str, base: str | None) -> list[Tokenizer]:
        """The tokenizers that can count ``model`` at ``base``, best first; chosen once (again
        after a while if the server did not answer)."""
        key = (model, base)
        chosen = self._tokenizers.get(key)
        if chosen is not None:
            return chosen
        found: list[Tokenizer] = []
        answered, identified = True, False
        if base is not None:
            said = await self._endpoints.get((base, model))
            answered, identified = said.answered, said.server is not None
            root, name = server_root(base), said.model_id or served_name(model)
            if said.server == "llama.cpp":
                found.append(llama_cpp_tokenizer(root))
            elif said.server == "vllm":
                found.append(vllm_tokenizer(root, name))
            elif said.server is None and said.answered:
                # a server that said nothing of itself: llama-cpp-python's has this (tried once)
                found.append(llama_cpp_python_tokenizer(root, served_name(model)))
        # litellm counts by the model's name; a local server that said what it is serves its own
        if provider_of(model) != "anthropic" and not identified and routes.uses_litellms_map(model):
            try:
                litellm = await litellm_loader.get()
            except Exception:
                litellm = None
            if litellm is not None and litellm_counts_exactly(litellm, model):
                found.append(LitellmTokenizer(litellm, model))
        if answered:  # else: chosen again on the next count, once the server may be up
            self._tokenizers[key] = found
        return found


def _normal(base: str | None) -> str | None:
    return base.rstrip("/") if base else None
