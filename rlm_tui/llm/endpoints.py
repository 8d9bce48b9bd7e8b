"""What a model's own server says of its window (``probe``), asked over HTTP at its API base.

llama.cpp's server (``GET /props`` → ``default_generation_settings.n_ctx``, the window of one slot;
else ``GET /v1/models`` → ``data[].meta.n_ctx_train``), vLLM (``GET /v1/models`` →
``data[].max_model_len``), Ollama (``POST /api/show``: a ``num_ctx`` in ``parameters``, else the
context the loaded model has in ``GET /api/ps``, else ``model_info["<arch>.context_length"]``).

The four probes go out together, each once, never retried, with a short timeout; a server that
answered none of them is asked again after ``ASK_AGAIN_AFTER`` seconds (it may have been
starting). What a server says of itself (llama.cpp, vLLM) also chooses its tokenizer
(``token_counts``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rlm_tui.llm.limits import UNKNOWN, Endpoint

PROBE_TIMEOUT = 2.0  # seconds an endpoint has to say its window (all probes together)
ASK_AGAIN_AFTER = 60.0  # seconds before an endpoint that answered nothing is asked again


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
        # a plain-HTTP server (a local one, mostly) needs no TLS: skip building a certificate store
        plain = api_base.startswith("http://")
        async with httpx.AsyncClient(timeout=timeout, verify=not plain) as client:
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
