"""Keeping every root call inside its model's context window.

Before an RLM asks its model, the prompt is measured (the model's own tokenizer where the client
knows it, else a generous estimate). When it nears the window, older iterations are compacted:
the REPL keeps all state, so a reply and the cell output it got can be replaced by a short record
of what ran and which variables hold the results. When even the rules and the task do not fit,
the turn fails at once, naming both sizes and the setting to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlm_tui.errors import ContextWindowError
from rlm_tui.llm.base import Message, ModelLimits

DEFAULT_MAX_OUTPUT = 8192  # a reply's tokens when neither config nor the model says
MIN_OUTPUT = 256  # below this a reply cannot hold a cell and a sentence
COMPACT_AT = 0.85  # compact when prompt + reply would take this share of the window
COMPACT_TO = 0.5  # ...down to about this share, so the next few iterations fit again
CHARS_PER_TOKEN = 3  # conservative: what a cell's output may cost the model


def output_budget(configured: int | None, limits: ModelLimits) -> int:
    """The max_tokens sent with every call: the setting (the model's own, else the general one),
    else the model's own limit (capped), and never more than a quarter of a known window unless
    set (a small local model must keep room to think)."""
    if limits.output_configured and limits.max_output_tokens:
        configured = limits.max_output_tokens
    budget = configured or min(limits.max_output_tokens or DEFAULT_MAX_OUTPUT, DEFAULT_MAX_OUTPUT)
    if limits.context_window and not configured:
        budget = min(budget, max(MIN_OUTPUT, limits.context_window // 4))
    return budget


def output_chars_for(window: int | None, configured_chars: int) -> int:
    """How much of a cell's output the model sees: the setting, and at most ~a quarter of a known
    window, so one print cannot fill a small model's whole prompt."""
    if not window:
        return configured_chars
    return max(200, min(configured_chars, window * CHARS_PER_TOKEN // 4))


def reply_output_chars_for(window: int | None, configured_chars: int) -> int:
    """How much of all of one reply's cell output the model sees: the setting, and at most ~half
    of a known window."""
    if not window:
        return configured_chars
    return max(200, min(configured_chars, window * CHARS_PER_TOKEN // 2))


class ReplyOutput:
    """The shares of one reply's cells in what the model sees of their output.

    Each cell gets its own cap, and at most an even split of what the reply has left over the
    cells still to run: a flood in one cell cannot crowd out the output of the cells after it, and
    cells that print little leave more for the rest. Shares are fixed as each cell finishes, so the
    output a cell's event records is the output the model saw.
    """

    def __init__(self, per_cell: int, total: int, cells: int) -> None:
        self.per_cell = per_cell
        self.total = total
        self.cells_left = cells
        self.used = 0
        self.printed = 0  # characters the cells printed, all of them
        self.shortened = 0  # cells cut below their own cap to keep the reply within the total

    def share(self) -> int:
        """The next cell's share."""
        return min(self.per_cell, (self.total - self.used) // max(1, self.cells_left))

    def spend(self, share: int, output_chars: int) -> None:
        self.cells_left -= 1
        self.used += min(share, output_chars)
        self.printed += output_chars
        if share < min(self.per_cell, output_chars):
            self.shortened += 1


def does_not_fit(
    model: str, prompt_tokens: int, limits: ModelLimits, reply_tokens: int
) -> ContextWindowError:
    """Even the rules and the first message do not fit the model's window: say both sizes and
    what to change."""
    window = limits.context_window or 0
    return ContextWindowError(
        f"{model}: the prompt needs about {prompt_tokens:,} tokens and a reply {reply_tokens:,}, but the "
        f"model's context window is {window:,} tokens ({limits.source}); set a larger `context_window` "
        "for it (if the server allows more) or a smaller `max_output_tokens`, or pick a model with a "
        "larger window",
        model=model,
        window=window,
        prompt_tokens=prompt_tokens,
    )


@dataclass(frozen=True)
class Plan:
    """Which whole iterations to drop: the pairs (reply, feedback) after the first message."""

    pairs: int  # how many of the oldest pairs go

    @property
    def removed(self) -> int:
        return 2 * self.pairs


def plan_compaction(messages: list[Message], tokens: int, target: int) -> Plan | None:
    """The fewest oldest iterations to drop so the prompt comes down to ``target`` tokens, keeping
    the first message and the last iteration (its feedback has not been seen yet). Token shares are
    apportioned by characters: the caller measures again after."""
    droppable = (len(messages) - 1) // 2 - 1  # pairs after the first message, the last one kept
    if droppable <= 0:
        return None
    total_chars = sum(len(m.content) for m in messages) or 1
    excess = tokens - target
    pairs, freed = 0, 0
    while pairs < droppable and freed < excess:
        a, u = messages[1 + 2 * pairs], messages[2 + 2 * pairs]
        freed += tokens * (len(a.content) + len(u.content)) // total_chars
        pairs += 1
    return Plan(pairs)
