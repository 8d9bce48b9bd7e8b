"""Token and cost totals of a turn, by recursion depth."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rlm_tui.llm.base import Usage

FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class UsageTally:
    def __init__(self) -> None:
        self.by_depth: dict[int, dict[str, Any]] = defaultdict(
            lambda: {"calls": 0, **dict.fromkeys(FIELDS, 0), "cost_usd": 0.0, "unknown_cost_calls": 0}
        )
        self.cache_hits = 0
        self.estimated_calls = 0  # calls whose provider reported no usage: counted by us

    def add(self, depth: int, usage: Usage) -> None:
        row = self.by_depth[depth]
        row["calls"] += 1
        self.estimated_calls += usage.estimated
        for name in FIELDS:
            row[name] += getattr(usage, name)
        if usage.cost_usd is None:
            row["unknown_cost_calls"] += 1
        else:
            row["cost_usd"] += usage.cost_usd

    def total(self) -> Usage:
        totals = self.to_dict()
        return Usage(
            input_tokens=totals["input_tokens"],
            output_tokens=totals["output_tokens"],
            cache_read_tokens=totals["cache_read_tokens"],
            cache_write_tokens=totals["cache_write_tokens"],
            cost_usd=totals["cost_usd"],
            estimated=totals["estimated"],
        )

    def to_dict(self) -> dict[str, Any]:
        totals: dict[str, Any] = dict.fromkeys(FIELDS, 0)
        cost = 0.0
        unknown = 0
        for row in self.by_depth.values():
            for name in FIELDS:
                totals[name] += row[name]
            cost += row["cost_usd"]
            unknown += row["unknown_cost_calls"]
        calls = sum(r["calls"] for r in self.by_depth.values())
        return {
            **totals,
            "calls": calls,
            # An unknown price makes the total unknown rather than silently low.
            "cost_usd": None if unknown and calls == unknown else round(cost, 8),
            "cost_complete": unknown == 0,
            "calls_by_depth": {str(d): r["calls"] for d, r in sorted(self.by_depth.items())},
            "cache_hits": self.cache_hits,
            # some counts are ours, not the provider's: shown as estimates everywhere
            "estimated": self.estimated_calls > 0,
        }
