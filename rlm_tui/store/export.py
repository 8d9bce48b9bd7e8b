"""Exports of a recorded session: Markdown for people, JSONL in the official rlm trajectory log
format (metadata, then per turn a run_context and one iteration record per root model call)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from rlm_tui.events import with_system_prompt
from rlm_tui.store.sessions import SessionRow, Store

OUTPUT_IN_MARKDOWN = 2000


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t).isoformat()


class _Turn:
    def __init__(self, number: int) -> None:
        self.number = number
        self.user = ""
        self.answer: str | None = None
        self.status = "interrupted"
        self.stopped_by: str | None = None
        self.started = 0.0
        self.iterations: list[dict[str, Any]] = []  # root model calls, in order


def _turns(rows: list[dict[str, Any]]) -> list[_Turn]:
    turns: dict[int, _Turn] = {}
    iterations: dict[str, dict[str, Any]] = {}
    cells: dict[str, dict[str, Any]] = {}
    history: dict[str, list[dict[str, str]]] = defaultdict(list)  # prompt so far, per RLM node
    system: dict[str, str] | None = None  # the system prompt, recorded once per session
    for row in rows:
        turn = turns.setdefault(row["turn"], _Turn(row["turn"]))
        kind, node = row["type"], row["node_id"]
        if kind == "TurnStarted":
            turn.user, turn.started = row["user_message"], row["t"]
        elif kind == "ModelStarted":
            prompt = history[row["parent_id"]]
            prompt.extend(with_system_prompt(system, prompt, row["messages"]))
            if prompt and prompt[0]["role"] == "system":
                system = prompt[0]
            if row["depth"] != 0:
                continue
            it = {
                "node": node,
                "t": row["t"],
                "prompt": list(history[row["parent_id"]]),
                "response": "",
                "duration": 0.0,
                "cells": [],
                "final": None,
            }
            iterations[node] = it
            turn.iterations.append(it)
        elif kind == "ModelFinished" and node in iterations:
            iterations[node].update(response=row["text"], duration=row["duration"])
        elif kind == "CellStarted" and row["parent_id"] in iterations:
            cell = {
                "node": node,
                "code": row["code"],
                "stdout": [],
                "stderr": [],
                "duration": 0.0,
                "calls": [],
                "status": "running",
                "output_for_model": "",
            }
            cells[node] = cell
            iterations[row["parent_id"]]["cells"].append(cell)
        elif kind == "CellOutput" and node in cells:
            cells[node]["stderr" if row["stream"] == "stderr" else "stdout"].append(row["text"])
        elif kind == "CellFinished" and node in cells:
            cells[node].update(
                duration=row["duration"], status=row["status"], output_for_model=row["output_for_model"]
            )
            if row.get("final") is not None:
                iterations[row["parent_id"]]["final"] = row["final"]
        elif kind == "SubCallFinished" and row["parent_id"] in cells:
            cells[row["parent_id"]]["calls"].append(row)
        elif kind == "AnswerReady":
            turn.answer, turn.stopped_by = row["answer"], row.get("stopped_by")
        elif kind == "TurnFinished":
            turn.status = row["status"]
    for turn in turns.values():
        if turn.answer is not None and turn.iterations and turn.iterations[-1]["final"] is None:
            turn.iterations[-1]["final"] = turn.answer
    return [turns[n] for n in sorted(turns)]


def to_markdown(store: Store, session_id: str) -> str:
    info = store.get(session_id)
    turns = _turns(list(store.event_rows(session_id)))
    out = [f"# {info.title or session_id}", "", _summary(info), ""]
    for turn in turns:
        out += [f"## Turn {turn.number}", "", "**You**", "", turn.user.strip(), ""]
        for number, it in enumerate(turn.iterations, 1):
            for cell in it["cells"]:
                out += [
                    f"<details><summary>Iteration {number}: code ({cell['status']}, {cell['duration']:.2f} s)"
                    "</summary>",
                    "",
                    "```python",
                    cell["code"].rstrip(),
                    "```",
                    "",
                ]
                output = "".join(cell["stdout"] + cell["stderr"])
                if output.strip():
                    shown = (
                        output if len(output) <= OUTPUT_IN_MARKDOWN else output[:OUTPUT_IN_MARKDOWN] + "\n…"
                    )
                    out += ["```text", shown.rstrip(), "```", ""]
                if cell["calls"]:
                    out += [f"{len(cell['calls'])} sub-call(s).", ""]
                out += ["</details>", ""]
        answer = turn.answer if turn.answer is not None else f"_(no answer: the turn was {turn.status})_"
        out += ["**Answer**", "", answer.strip(), ""]
        if turn.stopped_by:
            out += [f"_Stopped by the {turn.stopped_by} limit._", ""]
    return "\n".join(out).rstrip() + "\n"


def _summary(info: SessionRow) -> str:
    parts = [
        f"Session `{info.id}`",
        f"models {info.root_model} / {info.sub_model}",
        f"{info.turns} turns",
        f"{info.input_tokens + info.output_tokens:,} tokens",
        f"cost {info.cost_text()}",
        f"started {datetime.fromtimestamp(info.created):%Y-%m-%d %H:%M}",
    ]
    if info.parent_session:
        parts.append(f"forked from `{info.parent_session}` at turn {info.parent_turn}")
    return " · ".join(parts)


def _rlm_call(row: dict[str, Any]) -> dict[str, Any]:
    usage = row.get("usage") or {}
    summary: dict[str, Any] = {
        "total_calls": 1,
        "total_input_tokens": int(usage.get("input_tokens", 0)) + int(usage.get("cache_read_tokens", 0)),
        "total_output_tokens": int(usage.get("output_tokens", 0)),
    }
    if row.get("cost_usd") is not None:
        summary["total_cost"] = row["cost_usd"]
    return {
        "root_model": row["model"],
        "prompt": row.get("prompt", ""),
        "response": row.get("response") or (f"Error: {row['error']}" if row.get("error") else ""),
        "usage_summary": {"model_usage_summaries": {row["model"]: summary}},
        "execution_time": row.get("duration", 0.0),
    }


def to_jsonl(store: Store, session_id: str, max_depth: int = 2, max_iterations: int = 30) -> str:
    info = store.get(session_id)
    rows = list(store.event_rows(session_id))
    prompts = {r["node_id"]: r["prompt"] for r in rows if r["type"] == "SubCallStarted"}
    for r in rows:
        if r["type"] == "SubCallFinished":
            r["prompt"] = prompts.get(r["node_id"], "")
    root = info.root_model or ""
    lines: list[dict[str, Any]] = [
        {
            "type": "metadata",
            "timestamp": _iso(info.created),
            "root_model": root,
            "max_depth": max_depth,
            "max_iterations": max_iterations,
            "backend": "anthropic" if root.startswith("anthropic/") else "litellm",
            "backend_kwargs": {"model_name": root},
            "environment_type": "rlm-tui",
            "environment_kwargs": {},
            "other_backends": [info.sub_model] if info.sub_model and info.sub_model != root else None,
        }
    ]
    number = 0
    for turn in _turns(rows):
        lines.append(
            {
                "type": "run_context",
                "timestamp": _iso(turn.started),
                "prompt": turn.user,
                "root_prompt": None,
                "environment_type": "rlm-tui",
                "environment_kwargs": {},
                "session_mode": True,
            }
        )
        for it in turn.iterations:
            number += 1
            blocks = [
                {
                    "code": c["code"],
                    "result": {
                        "stdout": "".join(c["stdout"]),
                        "stderr": "".join(c["stderr"]),
                        "locals": {},
                        "execution_time": c["duration"],
                        "rlm_calls": [_rlm_call(r) for r in c["calls"]],
                    },
                }
                for c in it["cells"]
            ]
            lines.append(
                {
                    "type": "iteration",
                    "iteration": number,
                    "timestamp": _iso(it["t"]),
                    "prompt": it["prompt"],
                    "response": it["response"],
                    "code_blocks": blocks,
                    "final_answer": it["final"],
                    "iteration_time": it["duration"],
                }
            )
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
