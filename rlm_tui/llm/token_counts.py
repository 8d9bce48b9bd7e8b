"""A prompt's size in the model's own tokens (``TokenCounter``).

The endpoint's own tokenizer where the server has one (llama.cpp ``POST /tokenize``, vLLM
``POST /tokenize``, llama-cpp-python ``POST /extras/tokenize/count``), else litellm's
``token_counter`` for the models it counts with their own tokenizer (OpenAI's, DeepSeek's), else
``estimate_tokens`` with a margin. The chat template's tokens around each message are added. Counts
of a prompt's leading messages are remembered, so each call sends only the messages that are new
since the last one (a prompt grows by an iteration at a time) and at most one request per prompt; a
text far over the window is never sent at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rlm_tui.llm import pricing
from rlm_tui.llm.base import Message, TokenCount, estimate_tokens
from rlm_tui.llm.endpoints import PROBE_TIMEOUT

ESTIMATE_MARGIN = 1.15  # an estimate is this much over ``estimate_tokens``: it must not fall short
MAX_TOKENIZE_CHARS = 4_000_000  # a text this long is estimated (litellm extrapolates past it too)
PREFIXES_KEPT = 64  # counted prompt prefixes remembered per model


class Tokenizer:
    """Counts texts in a model's own tokens; the chat template's tokens are added by the caller."""

    name = "tokenizer"
    per_message = 5  # the template's tokens around one message (ChatML, Llama 3, Gemma: 5)
    per_prompt = 8  # ... and around the prompt (BOS, the reply's opening, an empty think block)
    missing = False  # the server has no such API: never ask it again

    async def count(self, texts: Sequence[str]) -> int | None:
        """The tokens of ``texts`` (one request at most), or None when they could not be counted."""
        raise NotImplementedError


class EndpointTokenizer(Tokenizer):
    """The server's own tokenize API: one POST of the texts joined by newlines."""

    def __init__(
        self, name: str, url: str, body: Callable[[str], dict[str, Any]], read: Callable[[Any], Any]
    ):
        self.name = name
        self.url = url
        self.body = body
        self.read = read

    async def count(self, texts: Sequence[str]) -> int | None:
        import httpx

        text = "\n".join(texts)
        timeout = PROBE_TIMEOUT + len(text) / 200_000  # a long text takes the server a while
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(self.url, json=self.body(text))
        except Exception:  # no answer this time: estimate
            return None
        if response.status_code in (404, 405, 501):
            self.missing = True
            return None
        try:
            tokens = self.read(response.json()) if response.status_code == 200 else None
        except (ValueError, AttributeError, TypeError, KeyError):
            tokens = None
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            return None
        return tokens


def llama_cpp_tokenizer(root: str) -> EndpointTokenizer:
    """llama.cpp's server: ``POST /tokenize {"content"}`` → ``{"tokens": [...]}``."""
    return EndpointTokenizer(
        "llama.cpp /tokenize",
        f"{root}/tokenize",
        lambda text: {"content": text, "add_special": False},
        lambda body: len(body["tokens"]),
    )


def vllm_tokenizer(root: str, model: str) -> EndpointTokenizer:
    """vLLM: ``POST /tokenize {"model", "prompt"}`` → ``{"count": n, ...}``."""
    return EndpointTokenizer(
        "vLLM /tokenize",
        f"{root}/tokenize",
        lambda text: {"model": model, "prompt": text, "add_special_tokens": False},
        lambda body: body["count"],
    )


def llama_cpp_python_tokenizer(root: str, model: str) -> EndpointTokenizer:
    """llama-cpp-python's server: ``POST /extras/tokenize/count {"input"}`` → ``{"count": n}``."""
    return EndpointTokenizer(
        "llama-cpp-python /extras/tokenize/count",
        f"{root}/extras/tokenize/count",
        lambda text: {"input": text, "model": model},
        lambda body: body["count"],
    )


class LitellmTokenizer(Tokenizer):
    """litellm's ``token_counter``, in a thread (tiktoken on a long text takes a while)."""

    name = "litellm"
    per_message = 4  # OpenAI's: 3 around each message and the role's one token
    per_prompt = 3  # the reply's opening

    def __init__(self, litellm: Any, model: str) -> None:
        self.litellm = litellm
        self.model = model

    async def count(self, texts: Sequence[str]) -> int | None:
        def run() -> int:
            return sum(int(self.litellm.token_counter(model=self.model, text=text)) for text in texts)

        try:
            return await asyncio.to_thread(run)
        except Exception:
            return None


def litellm_counts_exactly(litellm: Any, model: str) -> bool:
    """litellm counts ``model`` with the model's own tokenizer: OpenAI's models (tiktoken's
    encoding for the model) and those whose tokenizer litellm ships (DeepSeek's). Its Claude count
    is an estimate (its Claude tokenizer predates Claude 3), and the Llama and Cohere tokenizers it
    would download from Hugging Face: never used here."""
    if pricing.split(model)[0] == "anthropic":
        return False
    try:
        from litellm import utils
        from litellm.litellm_core_utils import token_counter as counting
    except Exception:
        return False
    kind_of = getattr(utils, "huggingface_tokenizer_kind", None)
    is_openai = getattr(counting, "is_openai_model", None)
    if kind_of is None or is_openai is None or getattr(litellm, "token_counter", None) is None:
        return False
    try:
        kind = kind_of(model)
        return kind == "deepseek" or (kind is None and bool(is_openai(model)))
    except Exception:
        return False


def estimate(texts: Sequence[str], tokenizer: Tokenizer | None = None) -> TokenCount:
    """A generous estimate: ``estimate_tokens`` plus ``ESTIMATE_MARGIN``, and the template."""
    template = tokenizer or Tokenizer()
    tokens = math.ceil(sum(estimate_tokens(text) for text in texts) * ESTIMATE_MARGIN)
    return TokenCount(tokens + template.per_message * len(texts) + template.per_prompt, exact=False)


class TokenCounter:
    """One model's prompts counted, at one endpoint. ``choose`` gives the tokenizers to try, best
    first (a server's that turns out to have no such API is dropped for the next); the counts of
    prompt prefixes are remembered by a digest of their messages, so a prompt that grew is counted
    by sending only its new messages."""

    def __init__(self, choose: Callable[[], Awaitable[list[Tokenizer]]]) -> None:
        self._choose = choose
        self._prefixes: OrderedDict[bytes, int] = OrderedDict()
        self._tokenizer: Tokenizer | None = None

    async def count(self, system: str | None, messages: Sequence[Message], window: int | None) -> TokenCount:
        parts = ([("system", system)] if system else []) + [(m.role, m.content) for m in messages]
        texts = [text for _, text in parts]
        for tokenizer in await self._choose():
            if tokenizer.missing:
                continue
            if tokenizer is not self._tokenizer:  # counts of another tokenizer do not add up
                self._prefixes.clear()
                self._tokenizer = tokenizer
            counted = await self._count(tokenizer, parts, window)
            if counted is not None:
                return counted
            if not tokenizer.missing:
                return estimate(texts, tokenizer)  # it could not count this time
        return estimate(texts)

    async def _count(
        self, tokenizer: Tokenizer, parts: list[tuple[str, str]], window: int | None
    ) -> TokenCount | None:
        digests = _prefix_digests(parts)
        known, start = 0, 0
        for index in range(len(parts) - 1, -1, -1):
            hit = self._prefixes.get(digests[index])
            if hit is not None:
                known, start = hit, index + 1
                self._prefixes.move_to_end(digests[index])
                break
        new = [text for _, text in parts[start:]]
        if new:
            chars = sum(len(text) for text in new)
            guess = sum(estimate_tokens(text) for text in new)
            if chars > MAX_TOKENIZE_CHARS or (window is not None and guess > 2 * window):
                # far over the window (or huge): the estimate says as much, without sending it
                return estimate([text for _, text in parts], tokenizer)
            got = await tokenizer.count(new)
            if got is None:
                return None
            known += got
            self._prefixes[digests[-1]] = known
            while len(self._prefixes) > PREFIXES_KEPT:
                self._prefixes.popitem(last=False)
        template = tokenizer.per_message * len(parts) + tokenizer.per_prompt
        return TokenCount(known + template, exact=True)


def _prefix_digests(parts: Sequence[tuple[str, str]]) -> list[bytes]:
    """The digest of each prefix of the messages: ``[d(m0), d(m0, m1), ...]``."""
    digest = hashlib.blake2b(digest_size=16)
    found = []
    for role, text in parts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(f"{role}:{len(data)}:".encode())
        digest.update(data)
        found.append(digest.copy().digest())
    return found
