"""Exports of a recorded session: Markdown for people, JSONL in the official rlm trajectory log
format (metadata, then per turn a run_context and one iteration record per root model call)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rlm_tui.events import input_tokens, limit_name
from rlm_tui.events.fold import SubCallRecord, TurnRecord, fold_turns
from rlm_tui.events.text import answer_markdown
from rlm_tui.store.sessions import SessionRow, Store

OUTPUT_IN_MARKDOWN = 2000


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t).isoformat()


def _turns(store: Store, session_id: str) -> list[TurnRecord]:
    return fold_turns(store.events(session_id))


def to_markdown(store: Store, session_id: str) -> str:
    info = store.get(session_id)
    turns = _turns(store, session_id)
    out = [f"# {info.title or session_id}", "", _summary(info), ""]
    for turn in turns:
        out += [f"## Turn {turn.number}", "", "**You**", "", turn.user.strip(), ""]
        for number, it in enumerate(turn.iterations, 1):
            for cell in it.cells:
                duration = f", {cell.duration:.2f} s" if cell.duration is not None else ""
                out += [
                    f"<details><summary>Iteration {number}: code ({cell.status}{duration})</summary>",
                    "",
                    "```python",
                    cell.code.rstrip(),
                    "```",
                    "",
                ]
                output = cell.stream("stdout") + cell.stream("stderr")
                if output.strip():
                    shown = (
                        output if len(output) <= OUTPUT_IN_MARKDOWN else output[:OUTPUT_IN_MARKDOWN] + "\n…"
                    )
                    out += ["```text", shown.rstrip(), "```", ""]
                if cell.calls:
                    out += [_calls_summary(cell.calls), ""]
                out += ["</details>", ""]
        for compaction in turn.compactions:
            span = ", ".join(str(i) for i in compaction.iterations)
            out += [
                f"_The prompt was compacted to fit the {compaction.window:,}-token window: iterations {span} "
                f"were replaced by a summary ({compaction.tokens_before:,} → {compaction.tokens_after:,} tokens)._",
                "",
            ]
        answer = (
            answer_markdown(turn.answer)
            if turn.answer is not None
            else f"_(no answer: the turn was {turn.outcome})_"
        )
        out += ["**Answer**", "", answer.strip(), ""]
        if turn.stopped_by:
            out += [f"_Stopped by the {limit_name(turn.stopped_by)}._", ""]
        if (turn.usage or {}).get("estimated"):
            out += ["_Some token counts of this turn are estimates: the provider reported none._", ""]
    return "\n".join(out).rstrip() + "\n"


def _calls_summary(calls: list[SubCallRecord]) -> str:
    """ "400 sub-calls: 31 finished, 369 cancelled": what became of them, not just how many."""
    outcomes: dict[str, int] = {}
    for call in calls:
        outcome = {"ok": "finished", "cached": "finished", "running": "cancelled"}.get(
            call.status, call.status
        )
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    count = f"{len(calls):,} sub-call{'' if len(calls) == 1 else 's'}"
    if set(outcomes) == {"finished"}:
        return f"{count}."
    order = ["finished", "error", "cancelled"]
    parts = sorted(outcomes.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 9, kv[0]))
    return f"{count}: " + ", ".join(f"{n:,} {'failed' if k == 'error' else k}" for k, n in parts) + "."


def _summary(info: SessionRow) -> str:
    parts = [
        f"Session `{info.id}`",
        f"models {info.root_model} / {info.sub_model}",
        f"{info.turns} turn{'' if info.turns == 1 else 's'}",
        f"{info.input_tokens + info.output_tokens:,} tokens",
        f"cost {info.cost_text()}",
        f"started {datetime.fromtimestamp(info.created):%Y-%m-%d %H:%M}",
    ]
    if info.parent_session:
        parts.append(f"forked from `{info.parent_session}` at turn {info.parent_turn}")
    return " · ".join(parts)


def _rlm_call(call: SubCallRecord) -> dict[str, Any]:
    usage = call.usage or {}
    summary: dict[str, Any] = {
        "total_calls": 1,
        "total_input_tokens": input_tokens(usage),
        "total_output_tokens": int(usage.get("output_tokens", 0)),
    }
    if call.cost is not None:
        summary["total_cost"] = call.cost
    return {
        "root_model": call.model,
        "prompt": call.prompt,
        "response": call.response or (f"Error: {call.error}" if call.error else ""),
        "usage_summary": {"model_usage_summaries": {call.model: summary}},
        "execution_time": call.duration or 0.0,
    }


def to_jsonl(store: Store, session_id: str, max_depth: int = 2, max_iterations: int = 30) -> str:
    info = store.get(session_id)
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
    for turn in _turns(store, session_id):
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
                    "code": c.code,
                    "result": {
                        "stdout": c.stream("stdout"),
                        "stderr": c.stream("stderr"),
                        "locals": {},
                        "execution_time": c.duration or 0.0,
                        "rlm_calls": [_rlm_call(call) for call in c.calls if call.status != "running"],
                    },
                }
                for c in it.cells
            ]
            lines.append(
                {
                    "type": "iteration",
                    "iteration": number,
                    "timestamp": _iso(it.t),
                    "prompt": [dict(m) for m in it.prompt],
                    "response": it.response,
                    "code_blocks": blocks,
                    "final_answer": it.final,
                    "iteration_time": it.duration or 0.0,
                }
            )
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
