"""Shared by the bench scripts: print a table of measurements and write it as JSON."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p90": quantile(values, 0.9),
        "min": min(values),
        "n": len(values),
    }


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def report(name: str, rows: list[dict[str, Any]]) -> None:
    """rows: measure, value, unit, target, ok."""
    headers = ["measure", "value", "target", "ok"]
    cells = [
        [
            r["measure"],
            f"{_number(r['value'])} {r['unit']}",
            r.get("target", ""),
            "" if "ok" not in r else ("yes" if r["ok"] else "NO"),
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "bench": name,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": platform.platform(),
        "rows": rows,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
