"""Reading fast-rlm's JSONL logs.

Each line is one event of one run (a root or a sub-agent): ``execution_result`` (a cell and its
output), ``code_generated`` (the cell that called FINAL; no output) and ``final_result``. Recorded
outputs are framed: ``[FULL OUTPUT SHOWN]... X``, ``[TRUNCATED: Last N chars shown].. X`` (the
last N characters), ``[EMPTY OUTPUT]``; the automatic first cell's output is unframed and trimmed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FULL = "[FULL OUTPUT SHOWN]... "
EMPTY = "[EMPTY OUTPUT]"
_TRUNCATED = re.compile(r"^\[TRUNCATED: Last (\d+) chars shown\]\.\. ", re.S)


@dataclass
class Step:
    step: int
    event_type: str
    code: str
    output: str | None
    has_error: bool
    reasoning: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    time: str = ""


@dataclass
class Run:
    run_id: str
    parent_run_id: str | None
    depth: int
    steps: list[Step] = field(default_factory=list)
    final: Any = None
    has_final: bool = False
    order: int = 0  # position of its first line in the log

    @property
    def cells(self) -> list[Step]:
        return [s for s in self.steps if s.code]

    def recorded_context(self) -> str | None:
        first = next((s for s in self.steps if s.step == 0 and s.output is not None), None)
        return context_from_first_output(first.output) if first else None


@dataclass
class Log:
    runs: dict[str, Run]

    @property
    def root(self) -> Run:
        return next(r for r in sorted(self.runs.values(), key=lambda r: r.order) if r.depth == 0)

    def children(self, run: Run) -> list[Run]:
        return sorted((r for r in self.runs.values() if r.parent_run_id == run.run_id), key=lambda r: r.order)


def _usage(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            import ast

            value = ast.literal_eval(raw)
            return value if isinstance(value, dict) else {}
        except (ValueError, SyntaxError):
            return {}
    return {}


def load(path: str | Path) -> Log:
    runs: dict[str, Run] = {}
    with open(path, encoding="utf-8") as fh:
        for position, line in enumerate(fh):
            if not line.strip():
                continue
            rec = json.loads(line)
            run_id = rec.get("run_id") or "root"
            run = runs.get(run_id)
            if run is None:
                run = runs[run_id] = Run(
                    run_id, rec.get("parent_run_id"), int(rec.get("depth", 0)), order=position
                )
            kind = rec.get("event_type")
            if kind == "final_result":
                run.final = rec.get("result")
                run.has_final = True
            elif kind in ("execution_result", "code_generated"):
                run.steps.append(
                    Step(
                        step=int(rec.get("step", len(run.steps))),
                        event_type=kind,
                        code=rec.get("code") or "",
                        output=rec.get("output"),
                        has_error=str(rec.get("hasError")) == "True",
                        reasoning=rec.get("reasoning") or "",
                        usage=_usage(rec.get("usage")),
                        time=rec.get("time", ""),
                    )
                )
    for run in runs.values():
        run.steps.sort(key=lambda s: s.step)
    return Log(runs)


def unframe(output: str) -> tuple[str, str, int | None]:
    """Split a recorded output into (frame, inner text, tail length for truncated frames)."""
    if output.startswith(FULL):
        return "full", output[len(FULL) :], None
    if output == EMPTY:
        return "empty", "", None
    match = _TRUNCATED.match(output)
    if match:
        return "tail", output[match.end() :], int(match.group(1))
    return "raw", output, None


def context_from_first_output(output: str) -> str | None:
    """Rebuild ``context`` from fast-rlm's automatic first cell.

    A short context is printed whole. A long one shows its first and last 500 characters and its
    length: the middle is filled with spaces, so the length, head and tail are right.
    """
    length_match = re.search(r"^Context length: (\d+)$", output, re.M)
    if length_match is None:
        return None
    length = int(length_match.group(1))
    short = output.find("\nContext:  ")
    if short != -1:
        text = output[short + len("\nContext:  ") :]
        return text + "\n" * max(0, length - len(text))  # the log trimmed trailing whitespace
    head_mark = "First 500 characters of str(context):  "
    tail_mark = "\n---\nLast 500 characters of str(context):  "
    h = output.find(head_mark)
    if h == -1:
        return None
    head = output[h + len(head_mark) : h + len(head_mark) + 500]
    t = output.find(tail_mark, h + len(head_mark) + 500 - 1)
    tail = output[t + len(tail_mark) :] if t != -1 else ""
    tail = tail + "\n" * max(0, 500 - len(tail))
    return head + " " * max(0, length - 1000) + tail
