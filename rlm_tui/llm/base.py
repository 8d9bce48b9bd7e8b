"""The small interface between the engine and any model: messages in, text deltas and usage out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    role: str  # user | assistant
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None  # None: the price is unknown (never shown as 0)
    estimated: bool = False  # the provider reported no usage: these counts are ours

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RetryInfo:
    model: str
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True)
class ModelRequest:
    model: str
    messages: list[Message]
    system: str | None = None
    max_tokens: int | None = None
    purpose: str = "root"  # root (an RLM iteration) | sub (llm_query) | best_answer
    depth: int = 0  # 0 for the root RLM, 1 for its sub-calls and children, ...
    on_retry: Callable[[RetryInfo], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    # why the model stopped, in its provider's words: end_turn / stop (done), max_tokens / length
    # (cut at the output limit), ...; see ``was_cut``
    stop_reason: str | None = None

    @property
    def was_cut(self) -> bool:
        return self.stop_reason in CUT_REASONS


CUT_REASONS = frozenset({"max_tokens", "length"})


@dataclass(frozen=True)
class ModelLimits:
    """What one call of a model may hold, and where that was learnt."""

    context_window: int | None  # tokens of one call, prompt and reply together (None: unknown)
    max_output_tokens: int | None  # tokens of one reply (None: unknown)
    # config | litellm | endpoint (<how>) | learned from the server's error | unknown
    source: str = "unknown"
    output_configured: bool = False  # max_output_tokens is the user's setting, not the model's maximum


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool  # counted with the model's own tokenizer; else a generous estimate


class ModelClient(Protocol):
    def stream(self, request: ModelRequest) -> AsyncIterator[TextDelta | Completion]:
        """Yield text deltas as they arrive, then exactly one Completion."""
        ...

    async def limits(self, model: str) -> ModelLimits:
        """The model's context window and output limit (from config, litellm's map, or the
        endpoint), asked once and remembered."""
        ...

    async def count_tokens(self, model: str, system: str | None, messages: list[Message]) -> TokenCount:
        """The prompt's size in the model's tokens: exact where its tokenizer is known (litellm's,
        or the endpoint's own tokenize API), else a generous estimate."""
        ...


def estimate_tokens(text: str) -> int:
    """A fast, slightly generous token estimate: about 4 characters a token for ASCII text, 2 for
    the two-byte scripts (Cyrillic, Greek, Arabic, Hebrew, accented Latin), and one token for each
    character of three or four bytes in UTF-8 (CJK, kana, Hangul, emoji).

    Counted from the ASCII count and the UTF-8 length, both at C speed, so megabytes cost
    milliseconds."""
    if text.isascii():
        return (len(text) + 3) // 4
    ascii_chars = len(text.encode("ascii", "ignore"))
    other = len(text) - ascii_chars
    extra_bytes = len(text.encode("utf-8", "surrogatepass")) - ascii_chars - 2 * other
    wide = min(other, extra_bytes)  # each 3-byte character has one byte more than a 2-byte one
    return (ascii_chars + 3) // 4 + (other - wide + 1) // 2 + wide
