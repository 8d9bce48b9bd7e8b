"""Every model's context window and output limit, each said with where it came from, and a
prompt's size in the model's own tokens.

**Limits** (``resolve``), each value on its own, the first found wins:

1. the config: the model's own table (``[models."openai/smollm2"]``), or, for a model without one,
   the flat ``context_window`` and ``max_output_tokens``;
2. for a model with an API base, the endpoint itself (``probe``): llama.cpp's server
   (``GET /props`` → ``default_generation_settings.n_ctx``, the window of one slot; else
   ``GET /v1/models`` → ``data[].meta.n_ctx_train``), vLLM (``GET /v1/models`` →
   ``data[].max_model_len``), Ollama (``POST /api/show``: a ``num_ctx`` in ``parameters``, else the
   context the loaded model has in ``GET /api/ps``, else ``model_info["<arch>.context_length"]``).
   The server running the model knows its real window; litellm's map knows only a model's name
   (an alias such as ``gpt-4o-mini`` on a local llama.cpp server would be taken for OpenAI's);
3. litellm's model map (not asked for the output limit of a model a local server identified);
4. unknown (llama-cpp-python's own server reports no window).

The four probes go out together, each once, never retried, with a short timeout; a server that
answered none of them is asked again after ``ASK_AGAIN_AFTER`` seconds (it may have been
starting). A window a server names in an error is ``learn``t by the router and wins over all of
these.

**Token counts** (``TokenCounter``): the endpoint's own tokenizer where the server has one
(llama.cpp ``POST /tokenize``, vLLM ``POST /tokenize``, llama-cpp-python
``POST /extras/tokenize/count``), else litellm's ``token_counter`` for the models it counts with
their own tokenizer (OpenAI's, DeepSeek's), else ``estimate_tokens`` with a margin. The chat
template's tokens around each message are added. Counts of a prompt's leading messages are
remembered, so each call sends only the messages that are new since the last one (a prompt grows
by an iteration at a time) and at most one request per prompt; a text far over the window is
never sent at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from rlm_tui.llm import litellm_loader, pricing
from rlm_tui.llm.base import Message, ModelLimits, TokenCount, estimate_tokens

PROBE_TIMEOUT = 2.0  # seconds an endpoint has to say its window (all probes together)
ASK_AGAIN_AFTER = 60.0  # seconds before an endpoint that answered nothing is asked again
ESTIMATE_MARGIN = 1.15  # an estimate is this much over ``estimate_tokens``: it must not fall short
MAX_TOKENIZE_CHARS = 4_000_000  # a text this long is estimated (litellm extrapolates past it too)
PREFIXES_KEPT = 64  # counted prompt prefixes remembered per model

LITELLM = "litellm's model map"
LEARNED = "learned from the server's error"
UNKNOWN = "unknown"


# ------------------------------------------------------------------------------ what was found


@dataclass(frozen=True)
class Setting:
    """A limit the user set, and where: ``config file:12``, ``env RLM_CONTEXT_WINDOW``."""

    value: int
    source: str


@dataclass(frozen=True)
class Configured:
    """One model's limits as configured (None: not set)."""

    context_window: Setting | None = None
    max_output_tokens: Setting | None = None


@dataclass(frozen=True)
class ConfiguredLimits:
    """The config's limits: each model's own table, and the flat settings for the others."""

    default: Configured = Configured()
    models: Mapping[str, Configured] = field(default_factory=dict)

    def of(self, model: str) -> Configured:
        """A model with a table of its own takes its limits from that table alone."""
        return self.models.get(model, self.default)


@dataclass(frozen=True)
class Resolved:
    """A model's limits with where each came from, in words a user understands."""

    context_window: int | None = None
    window_source: str = UNKNOWN
    max_output_tokens: int | None = None
    output_source: str = UNKNOWN
    # False: an endpoint that should have been asked did not answer; ask it again later
    settled: bool = field(default=True, compare=False)

    @property
    def limits(self) -> ModelLimits:
        """The engine's view; its source says where the window came from."""
        source = self.window_source if self.context_window is not None else UNKNOWN
        configured = self.output_source not in (LITELLM, UNKNOWN)
        return ModelLimits(self.context_window, self.max_output_tokens, source, configured)


@dataclass(frozen=True)
class Endpoint:
    """What a server said about itself and the model."""

    window: int | None = None
    source: str = UNKNOWN
    server: str | None = None  # llama.cpp | vllm | ollama | None (did not say)
    model_id: str | None = None  # the server's own id of the model, from /v1/models
    answered: bool = False  # any probe got an HTTP answer


# ------------------------------------------------------------------------------ resolution


async def resolve(
    model: str,
    configured: Configured,
    endpoint: Callable[[], Awaitable[Endpoint]] | None,
) -> Resolved:
    """The model's limits: config, then the endpoint (``endpoint`` is None for a model without an
    API base), then litellm's map."""
    window, window_source = _setting(configured.context_window)
    output, output_source = _setting(configured.max_output_tokens)
    settled, identified = True, False
    if window is None and endpoint is not None:
        said = await endpoint()
        settled, identified = said.answered, said.server is not None
        if said.window is not None:
            window, window_source = said.window, said.source
    if window is None or (output is None and not identified):
        mapped_window, mapped_output = await litellm_limits(model)
        if window is None and mapped_window is not None:
            window, window_source = mapped_window, LITELLM
        if output is None and mapped_output is not None and not identified:
            output, output_source = mapped_output, LITELLM
    return Resolved(window, window_source, output, output_source, settled)


def _setting(setting: Setting | None) -> tuple[int | None, str]:
    return (setting.value, setting.source) if setting is not None else (None, UNKNOWN)


async def litellm_limits(model: str) -> tuple[int | None, int | None]:
    """(window, output limit) from litellm's model map, awaiting litellm's import off the loop."""
    try:
        await litellm_loader.get()
    except Exception:  # litellm cannot be imported: its map is not there
        return None, None
    return pricing.context_window(model), pricing.max_output_tokens(model)


# ------------------------------------------------------------------------------ the endpoint


def server_root(api_base: str) -> str:
    """The server's own root: the OpenAI-compatible base without its ``/v1``."""
    root = api_base.rstrip("/")
    return root.removesuffix("/v1")


def served_name(model: str) -> str:
    """The model's name on its server: ``openai/smollm2`` → ``smollm2``."""
    return model.split("/", 1)[1] if "/" in model else model


@dataclass(frozen=True)
class _Answer:
    answered: bool = False  # an HTTP status came back
    status: int | None = None
    body: Any = None  # the JSON of a 2xx answer, else None


async def _ask(client: Any, method: str, url: str, body: Any = None) -> _Answer:
    try:
        response = await client.request(method, url, json=body)
    except Exception:  # refused, timed out, reset: no answer
        return _Answer()
    if not 200 <= response.status_code < 300:
        return _Answer(True, response.status_code)
    try:
        return _Answer(True, response.status_code, response.json())
    except ValueError:
        return _Answer(True, response.status_code)


async def probe(api_base: str, model: str, *, timeout: float = PROBE_TIMEOUT) -> Endpoint:
    """Ask the server at ``api_base`` what it knows of ``model``'s window: every known API at once,
    each once, all within ``timeout`` seconds. Never raises."""
    import httpx

    root, name = server_root(api_base), served_name(model)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            asks = [
                asyncio.ensure_future(_ask(client, "GET", f"{root}/props")),
                asyncio.ensure_future(_ask(client, "GET", f"{root}/v1/models")),
                asyncio.ensure_future(_ask(client, "POST", f"{root}/api/show", {"model": name})),
                asyncio.ensure_future(_ask(client, "GET", f"{root}/api/ps")),
            ]
            try:
                await asyncio.wait(asks, timeout=timeout)
            finally:
                for pending in asks:
                    pending.cancel()
                await asyncio.gather(*asks, return_exceptions=True)
    except Exception:  # a malformed URL, a client that would not start
        return Endpoint()
    answers = [
        a.result() if a.done() and not a.cancelled() and a.exception() is None else _Answer() for a in asks
    ]
    return read_endpoint(name, *answers)


def read_endpoint(name: str, props: _Answer, listing: _Answer, show: _Answer, ps: _Answer) -> Endpoint:
    """The window the answers give, by the most direct word: llama.cpp's slot context, vLLM's
    max_model_len, Ollama's num_ctx / loaded context / trained context, llama.cpp's trained
    context."""
    answered = any(a.answered for a in (props, listing, show, ps))
    entry = _model_entry(listing.body, name)
    model_id = entry.get("id") if isinstance(entry.get("id"), str) else None
    llama_cpp = isinstance(props.body, dict) and isinstance(
        props.body.get("default_generation_settings"), dict
    )
    if llama_cpp:
        window = _positive(props.body["default_generation_settings"].get("n_ctx"))
        if window is not None:
            return Endpoint(window, "the endpoint (llama.cpp /props)", "llama.cpp", model_id, True)
    if "max_model_len" in entry:
        window = _positive(entry["max_model_len"])
        return Endpoint(
            window, "the endpoint (vLLM /v1/models)" if window else UNKNOWN, "vllm", model_id, True
        )
    if not llama_cpp and _is_ollama(show.body):
        window, how = _ollama_window(show.body, ps.body, name)
        return Endpoint(
            window, f"the endpoint (Ollama {how})" if window else UNKNOWN, "ollama", model_id, True
        )
    meta = entry.get("meta")
    trained = _positive(meta.get("n_ctx_train")) if isinstance(meta, dict) else None
    if trained is not None:
        return Endpoint(
            trained, "the endpoint (llama.cpp /v1/models n_ctx_train)", "llama.cpp", model_id, True
        )
    return Endpoint(None, UNKNOWN, "llama.cpp" if llama_cpp else None, model_id, answered)


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return int(value) if value >= 1 else None


def _model_entry(listing: Any, name: str) -> dict[str, Any]:
    """The model's entry in an OpenAI-style model list: by id (or vLLM's root), else the only
    entry (llama.cpp's list always has one, named by its file path unless given an alias)."""
    data = listing.get("data") if isinstance(listing, dict) else None
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    for entry in entries:
        if name in (entry.get("id"), entry.get("root")):
            return entry
    return entries[0] if len(entries) == 1 else {}


def _is_ollama(show: Any) -> bool:
    return isinstance(show, dict) and any(k in show for k in ("model_info", "modelfile", "parameters"))


def _ollama_window(show: dict[str, Any], ps: Any, name: str) -> tuple[int | None, str]:
    """Ollama's window for ``name``: a num_ctx set for the model, else the context the loaded model
    has, else the context it was trained for (which Ollama may not allocate: its default is
    smaller)."""
    parameters = show.get("parameters")
    if isinstance(parameters, str):
        for line in parameters.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "num_ctx" and words[1].isdigit() and int(words[1]) > 0:
                return int(words[1]), "/api/show num_ctx"
    models = ps.get("models") if isinstance(ps, dict) else None
    for running in models if isinstance(models, list) else []:
        if isinstance(running, dict) and _ollama_tag(name) in map(_ollama_tag, _names(running)):
            window = _positive(running.get("context_length"))
            if window is not None:
                return window, "/api/ps"
    info = show.get("model_info")
    if isinstance(info, dict):
        arch = info.get("general.architecture")
        keys = [f"{arch}.context_length"] if isinstance(arch, str) else []
        keys += [k for k in info if isinstance(k, str) and k.endswith(".context_length")]
        for key in keys:
            window = _positive(info.get(key))
            if window is not None:
                return window, "/api/show"
    return None, ""


def _names(running: dict[str, Any]) -> list[str]:
    return [v for v in (running.get("name"), running.get("model")) if isinstance(v, str)]


def _ollama_tag(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


# ------------------------------------------------------------------------------ remembering


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """Each key's value, worked out once and remembered; callers that ask while it is being worked
    out wait for that same work. ``ask_again_after(value)`` gives the seconds a value holds (None:
    for good)."""

    def __init__(
        self, make: Callable[[K], Awaitable[V]], ask_again_after: Callable[[V], float | None]
    ) -> None:
        self._make = make
        self._ask_again_after = ask_again_after
        self._entries: dict[K, tuple[asyncio.Task[V], float | None]] = {}

    async def get(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        entry = self._entries.get(key)
        if entry is not None:
            task, until = entry
            if not task.done():
                if task.get_loop() is loop:
                    return await asyncio.shield(task)
            elif (
                not task.cancelled()
                and task.exception() is None
                and (until is None or time.monotonic() < until)
            ):
                return task.result()
        task = loop.create_task(self._work(key))
        self._entries[key] = (task, None)
        return await asyncio.shield(task)

    async def _work(self, key: K) -> V:
        value = await self._make(key)
        seconds = self._ask_again_after(value)
        entry = self._entries.get(key)
        if seconds is not None and entry is not None and entry[0] is asyncio.current_task():
            self._entries[key] = (entry[0], time.monotonic() + seconds)
        return value

    def forget(self) -> None:
        self._entries.clear()


# ------------------------------------------------------------------------------ token counts


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
