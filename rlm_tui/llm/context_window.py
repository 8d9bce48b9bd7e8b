"""A prompt over the model's context window, as servers say it: by an error code or type (OpenAI's,
llama.cpp's), else in words; and the sizes they give (the window, the prompt's tokens), as fields or
in the message. The failure, ``context_window``, carries both sizes and is never retried.
"""

from __future__ import annotations

import re
from typing import Any

from rlm_tui.llm.failures import ProviderFailure

# Error codes and types that say the prompt is over the model's context window: OpenAI's (and
# llama-cpp-python's, vLLM's) code, llama.cpp's own server's type.
CONTEXT_WINDOW_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})

# How servers say a prompt is over the window, as text (the code is not always there).
_WINDOW_WORDS = re.compile(
    r"context[ _](?:window|length|size)|maximum context|prompt is too long|too many tokens"
    r"|input is too long|exceeds? (?:the )?(?:model's )?(?:max(?:imum)? )?(?:token|context)",
    re.IGNORECASE,
)
# The sizes, in the words of each server that says them. Named groups: window, prompt.
_WINDOW_SIZES = [
    # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
    re.compile(r"prompt is too long:\s*(?P<prompt>\d+)\s*tokens?\s*>\s*(?P<window>\d+)", re.I),
    # llama-cpp-python's engine: "Requested tokens (600) exceed context window of 512"
    re.compile(r"requested tokens \((?P<prompt>\d+)\) exceeds? context window of (?P<window>\d+)", re.I),
    # llama.cpp's server: "request (600 tokens) exceeds the available context size (512 tokens)"
    re.compile(
        r"request \((?P<prompt>\d+) tokens?\) exceeds? the available context size \((?P<window>\d+)", re.I
    ),
    # OpenAI, vLLM, llama-cpp-python's server: "maximum context length is 512 tokens"
    re.compile(r"maximum context length (?:is|of) (?P<window>\d+)", re.I),
    re.compile(r"context (?:window|length|size) (?:is |of )?(?P<window>\d+)", re.I),
    # ... and the prompt: "(600 in the messages", "your messages resulted in 600 tokens",
    # "your request has 600 input tokens", "you requested 600 tokens"
    re.compile(r"\((?P<prompt>\d+) in (?:the messages|your prompt)", re.I),
    re.compile(r"messages resulted in (?P<prompt>\d+) tokens", re.I),
    re.compile(r"request has (?P<prompt>\d+) input tokens", re.I),
    re.compile(r"you requested (?P<prompt>\d+) tokens", re.I),
]


def says_context_window(message: str, *names: Any) -> bool:
    """The error (its message, code or type) says the prompt is over the model's context window."""
    return any(name in CONTEXT_WINDOW_CODES for name in names) or bool(_WINDOW_WORDS.search(message))


def window_sizes(message: str, body: Any = None) -> tuple[int | None, int | None]:
    """(the model's window, the prompt's tokens) as far as the server said them: llama.cpp's server
    gives them as fields (n_ctx, n_prompt_tokens), the others in the message."""
    window = prompt = None
    if isinstance(body, dict):
        fields = body.get("error") if isinstance(body.get("error"), dict) else body
        window = _int(fields.get("n_ctx"))
        prompt = _int(fields.get("n_prompt_tokens"))
    for pattern in _WINDOW_SIZES:
        match = pattern.search(message)
        if match is None:
            continue
        found = match.groupdict()
        if window is None and found.get("window"):
            window = int(found["window"])
        if prompt is None and found.get("prompt"):
            prompt = int(found["prompt"])
    return window, prompt


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def context_window_failure(
    message: str, host: str, *, status: int | None, url: str | None, body: Any = None
) -> ProviderFailure:
    """The failure of a prompt over the window, with the sizes the server gave. Never retried: the
    same prompt will not fit the next time either."""
    window, prompt = window_sizes(message, body)
    said = f"HTTP {status} from {host}" if status else f"{host} said so"
    if window and prompt:
        text = f"the prompt ({prompt:,} tokens) does not fit the model's context window ({window:,} tokens)"
        text += f"; {said}"
    elif window:
        text = f"the prompt does not fit the model's context window ({window:,} tokens); {said}: {message}"
    else:
        text = f"the prompt does not fit the model's context window; {said}: {message}"
    return ProviderFailure(
        "context_window", text, status=status, url=url, window=window, prompt_tokens=prompt
    )
