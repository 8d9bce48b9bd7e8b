"""Reading the official rlm's JSONL trajectory logs.

Lines are ``metadata`` (models, max depth), ``run_context`` (a user prompt: one turn) and
``iteration`` (the model's response, its code blocks with stdout/stderr and sub-calls, and the
final answer when the iteration ended the turn).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CodeBlock:
    code: str
    stdout: str
    stderr: str
    execution_time: float
    rlm_calls: list[dict[str, Any]]


@dataclass
class Iteration:
    number: int
    response: str
    code_blocks: list[CodeBlock]
    final_answer: str | None
    iteration_time: float | None
    prompt: list[dict[str, Any]] = field(default_factory=list)
    timestamp: str = ""


@dataclass
class Turn:
    prompt: str
    iterations: list[Iteration] = field(default_factory=list)
    timestamp: str = ""


@dataclass
class Log:
    metadata: dict[str, Any]
    turns: list[Turn]

    def code_cells(self) -> list[str]:
        return [b.code for t in self.turns for it in t.iterations for b in it.code_blocks]


def load(path: str | Path) -> Log:
    metadata: dict[str, Any] = {}
    turns: list[Turn] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            kind = rec.get("type")
            if kind == "metadata":
                metadata = rec
            elif kind == "run_context":
                turns.append(Turn(str(rec.get("prompt", "")), timestamp=rec.get("timestamp", "")))
            elif kind == "iteration":
                if not turns:
                    turns.append(Turn(""))
                blocks = [
                    CodeBlock(
                        b.get("code", ""),
                        (b.get("result") or {}).get("stdout", ""),
                        (b.get("result") or {}).get("stderr", ""),
                        float((b.get("result") or {}).get("execution_time") or 0.0),
                        list((b.get("result") or {}).get("rlm_calls") or []),
                    )
                    for b in rec.get("code_blocks") or []
                ]
                turns[-1].iterations.append(
                    Iteration(
                        int(rec.get("iteration", 0)),
                        rec.get("response", ""),
                        blocks,
                        rec.get("final_answer"),
                        rec.get("iteration_time"),
                        rec.get("prompt") or [],
                        rec.get("timestamp", ""),
                    )
                )
    return Log(metadata, turns)
