"""Engine settings: models and the per-turn budgets."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlm_tui.sandbox.settings import SandboxSettings


@dataclass(frozen=True)
class Limits:
    max_iterations: int = 30  # root-model replies per RLM (the root and each child count their own)
    max_depth: int = 2  # RLMs exist at depths below this; rlm_query at the limit is a plain llm_query
    max_sub_calls: int = 500  # llm_query/rlm_query calls per turn, all depths together
    max_cost_usd: float | None = None  # per turn
    max_seconds: float | None = None  # wall time per turn
    cell_timeout: float = 120.0
    max_concurrency: int = 16  # sub-calls in flight per model, shared by the whole session


@dataclass(frozen=True)
class EngineSettings:
    root_model: str
    sub_model: str
    limits: Limits = field(default_factory=Limits)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    inline_message_chars: int = 4000  # longer user messages go to `context` with a preview
    max_output_tokens: int | None = None
    best_answer_seconds: float = 120.0  # the one last call after a limit gets at most this long
    # One reply's code blocks: at most this many run (the rest are skipped, and the model told), and
    # the model sees at most this many characters of all their output together (each cell also
    # within sandbox.model_output_chars), so one reply cannot flood the next prompt.
    max_cells_per_reply: int = 20
    reply_output_chars: int = 60_000
