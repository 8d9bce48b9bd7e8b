"""Per-turn budgets. A limit that is reached is raised as LimitReached and ends the turn with a best
answer; sub-calls asked for after that fail inside the cell with BudgetExceeded."""

from __future__ import annotations

import time

from rlm_tui.engine.settings import Limits
from rlm_tui.errors import LimitReached


class TurnBudget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.started = time.monotonic()
        self.sub_calls = 0
        self.cost_usd = 0.0
        self.exhausted: LimitReached | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining_seconds(self) -> float | None:
        if self.limits.max_seconds is None:
            return None
        return self.limits.max_seconds - self.elapsed()

    def time_limit(self) -> LimitReached:
        return LimitReached(
            "time", f"the turn ran for {self.elapsed():.1f} s (limit {self.limits.max_seconds:g} s)"
        )

    def check(self) -> None:
        """Raise if a limit has been reached; called between steps."""
        if self.exhausted is not None:
            raise self.exhausted
        remaining = self.remaining_seconds()
        if remaining is not None and remaining <= 0:
            self.exhausted = self.time_limit()
            raise self.exhausted

    def take_sub_call(self) -> str | None:
        """Count one sub-call; return why it may not run, or None if it may."""
        if self.exhausted is not None:
            return f"no more sub-calls this turn: {self.exhausted.detail}"
        remaining = self.remaining_seconds()
        if remaining is not None and remaining <= 0:
            self.exhausted = self.time_limit()
            return f"no more sub-calls this turn: {self.exhausted.detail}"
        if self.sub_calls >= self.limits.max_sub_calls:
            self.exhausted = LimitReached(
                "sub_calls", f"{self.sub_calls} sub-calls made (limit {self.limits.max_sub_calls})"
            )
            return f"no more sub-calls this turn: {self.exhausted.detail}"
        self.sub_calls += 1
        return None

    def charge(self, cost_usd: float | None) -> None:
        if cost_usd:
            self.cost_usd += cost_usd
        limit = self.limits.max_cost_usd
        if limit is not None and self.cost_usd >= limit and self.exhausted is None:
            self.exhausted = LimitReached("cost", f"${self.cost_usd:.4f} spent (limit ${limit:g})")
