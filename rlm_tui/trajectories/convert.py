"""Trajectory logs as our events, so ``rlm view`` shows them in the same screens as our sessions.

Three formats are recognised from their first line: our own event log (``rlm sessions export
--format events``), the official rlm's JSONL (metadata / run_context / iteration records) and
fast-rlm's JSONL (one record per step of each run, runs linked by ``parent_run_id``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rlm_tui.errors import UsageError
from rlm_tui.events import (
    EVENT_TYPES,
    AnswerReady,
    CellFinished,
    CellOutput,
    CellStarted,
    Event,
    ModelFinished,
    ModelStarted,
    SubCallFinished,
    SubCallStarted,
    TurnFinished,
    TurnStarted,
    event_from_dict,
    nodes,
)
from rlm_tui.trajectories import fast_rlm, official_rlm


class LogFormatError(UsageError):
    """A file that is not a log format rlm knows (or not a text file at all)."""


def _epoch(stamp: str | None, default: float = 0.0) -> float:
    if not stamp:
        return default
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


def detect(path: Path) -> str:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LogFormatError(f"{path} is not a JSONL trajectory log (line 1: {exc})") from None
                break
        else:
            raise LogFormatError(f"{path} is empty")
    if not isinstance(first, dict):
        raise LogFormatError(f"{path} is not a JSONL trajectory log")
    if first.get("type") in EVENT_TYPES:
        return "events"
    if first.get("type") in ("metadata", "run_context", "iteration"):
        return "official"
    if "event_type" in first and "run_id" in first:
        return "fast-rlm"
    raise LogFormatError(f"{path}: not a log format rlm knows (ours, the official rlm's, or fast-rlm's)")


def load_events(path: str | Path) -> list[Event]:
    path = Path(path)
    kind = detect(path)
    try:
        if kind == "events":
            with open(path, encoding="utf-8") as fh:
                return [event_from_dict(json.loads(line)) for line in fh if line.strip()]
        if kind == "official":
            return from_official(official_rlm.load(path), path.stem)
        return from_fast_rlm(fast_rlm.load(path), path.stem)
    except (KeyError, TypeError, ValueError) as exc:
        raise LogFormatError(
            f"{path}: could not read it as a {kind} log ({type(exc).__name__}: {exc})"
        ) from None


def from_official(log: official_rlm.Log, session_id: str) -> list[Event]:
    model = str(log.metadata.get("root_model", ""))
    events: list[Event] = []
    for number, turn in enumerate(log.turns, 1):
        base = {"session_id": session_id, "turn": number}
        node = nodes.turn(number)
        t = _epoch(turn.timestamp)
        events.append(
            TurnStarted(
                **base,
                node_id=node,
                parent_id=None,
                t=t,
                user_message=turn.prompt,
                root_model=model,
                sub_model="",
            )
        )
        sent = 0
        answer = None
        for k, it in enumerate(turn.iterations, 1):
            it_node, t = nodes.iteration(node, k), _epoch(it.timestamp, t)
            prompt = [m for m in it.prompt if isinstance(m, dict)]
            new = [{"role": str(m.get("role")), "content": str(m.get("content", ""))} for m in prompt[sent:]]
            sent = len(prompt)
            chars = sum(len(str(m.get("content", ""))) for m in prompt)
            events.append(
                ModelStarted(
                    **base,
                    node_id=it_node,
                    parent_id=node,
                    t=t,
                    model=model,
                    depth=0,
                    iteration=k,
                    messages=new,
                    prompt_chars=chars,
                )
            )
            events.append(
                ModelFinished(
                    **base,
                    node_id=it_node,
                    parent_id=node,
                    t=t,
                    model=model,
                    text=it.response,
                    usage={},
                    cost_usd=None,
                    duration=float(it.iteration_time or 0.0),
                )
            )
            for j, block in enumerate(it.code_blocks, 1):
                cell = nodes.cell(it_node, j)
                events.append(
                    CellStarted(
                        **base,
                        node_id=cell,
                        parent_id=it_node,
                        t=t,
                        code=block.code,
                        depth=0,
                        iteration=k,
                        index=j,
                    )
                )
                for m, call in enumerate(block.rlm_calls, 1):
                    events.extend(_official_call(base, nodes.sub_call(cell, m), cell, t, call))
                for stream, text in (("stdout", block.stdout), ("stderr", block.stderr)):
                    if text:
                        events.append(
                            CellOutput(**base, node_id=cell, parent_id=it_node, t=t, stream=stream, text=text)
                        )
                output = block.stdout + block.stderr
                events.append(
                    CellFinished(
                        **base,
                        node_id=cell,
                        parent_id=it_node,
                        t=t,
                        status="error" if "Error" in block.stderr else "ok",
                        output_for_model=output,
                        output_chars=len(output),
                        dropped_chars=0,
                        truncated=False,
                        error=None,
                        duration=block.execution_time,
                    )
                )
            if it.final_answer is not None:
                answer = str(it.final_answer)
        if answer is not None:
            events.append(AnswerReady(**base, node_id=node, parent_id=None, t=t, answer=answer))
        duration = sum(float(it.iteration_time or 0.0) for it in turn.iterations)
        events.append(
            TurnFinished(
                **base,
                node_id=node,
                parent_id=None,
                t=t,
                status="ok" if answer is not None else "stopped",
                usage={},
                duration=duration,
            )
        )
    return events


def _official_call(
    base: dict[str, Any], node: str, parent: str, t: float, call: dict[str, Any]
) -> list[Event]:
    model = str(call.get("root_model", ""))
    summaries = (call.get("usage_summary") or {}).get("model_usage_summaries") or {}
    tokens_in = sum(int(s.get("total_input_tokens", 0)) for s in summaries.values())
    tokens_out = sum(int(s.get("total_output_tokens", 0)) for s in summaries.values())
    prompt = call.get("prompt", "")
    return [
        SubCallStarted(
            **base,
            node_id=node,
            parent_id=parent,
            t=t,
            kind="llm",
            model=model,
            prompt=prompt if isinstance(prompt, str) else json.dumps(prompt),
            depth=1,
        ),
        SubCallFinished(
            **base,
            node_id=node,
            parent_id=parent,
            t=t,
            kind="llm",
            model=model,
            response=str(call.get("response", "")),
            usage={"input_tokens": tokens_in, "output_tokens": tokens_out},
            cost_usd=None,
            duration=float(call.get("execution_time") or 0.0),
        ),
    ]


def from_fast_rlm(log: fast_rlm.Log, session_id: str) -> list[Event]:
    root = log.root
    base = {"session_id": session_id, "turn": 1}
    first = _epoch(root.steps[0].time if root.steps else "")
    context = root.recorded_context() or ""
    # fast-rlm passes the whole input as the query; the log only shows its head and tail
    message = (
        context
        if len(context) <= 2000
        else f"{context[:1500].rstrip()}\n\n… ({len(context):,} characters in all)"
    )
    events: list[Event] = [
        TurnStarted(
            **base,
            node_id=nodes.turn(1),
            parent_id=None,
            t=first,
            user_message=message,
            root_model="fast-rlm/primary",
            sub_model="fast-rlm/sub",
        )
    ]
    _fast_run(log, root, nodes.turn(1), base, events)
    last = _epoch(root.steps[-1].time if root.steps else "", first)
    if root.has_final:
        events.append(
            AnswerReady(**base, node_id=nodes.turn(1), parent_id=None, t=last, answer=_text(root.final))
        )
    usage = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    for run in log.runs.values():
        for step in run.steps:
            usage["input_tokens"] += int(step.usage.get("prompt_tokens", 0) or 0)
            usage["output_tokens"] += int(step.usage.get("completion_tokens", 0) or 0)
            usage["cost_usd"] += float(step.usage.get("cost", 0) or 0)
    events.append(
        TurnFinished(
            **base,
            node_id=nodes.turn(1),
            parent_id=None,
            t=last,
            status="ok" if root.has_final else "stopped",
            usage=usage,
            duration=max(0.0, last - first),
        )
    )
    return events


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


def _fast_run(
    log: fast_rlm.Log, run: fast_rlm.Run, node: str, base: dict[str, Any], events: list[Event]
) -> None:
    """A run's steps below ``node``; its sub-agents below the cells that spawned them."""
    model = "fast-rlm/primary" if run.depth == 0 else "fast-rlm/sub"
    children = log.children(run)
    spawned: dict[int, list[fast_rlm.Run]] = {}
    step_times = [(_epoch(s.time), s.step) for s in run.steps]
    for child in children:
        started = _epoch(child.steps[0].time if child.steps else "")
        owner = next(
            (step for t, step in step_times if t >= started and step > 0),
            step_times[-1][1] if step_times else 0,
        )
        spawned.setdefault(owner, []).append(child)
    for step in run.steps:
        t = _epoch(step.time)
        parent = node
        if step.step > 0:  # step 0 is fast-rlm's own first cell: no model call
            parent = nodes.iteration(node, step.step)
            text = (step.reasoning + "\n\n" if step.reasoning else "") + f"```repl\n{step.code}\n```"
            usage = {
                "input_tokens": int(step.usage.get("prompt_tokens", 0) or 0),
                "output_tokens": int(step.usage.get("completion_tokens", 0) or 0),
            }
            events.append(
                ModelStarted(
                    **base,
                    node_id=parent,
                    parent_id=node,
                    t=t,
                    model=model,
                    depth=run.depth,
                    iteration=step.step,
                    messages=[],
                    prompt_chars=0,
                )
            )
            events.append(
                ModelFinished(
                    **base,
                    node_id=parent,
                    parent_id=node,
                    t=t,
                    model=model,
                    text=text,
                    usage=usage,
                    cost_usd=step.usage.get("cost"),
                    duration=0.0,
                )
            )
        cell = f"{parent}.c1"
        events.append(
            CellStarted(
                **base,
                node_id=cell,
                parent_id=parent,
                t=t,
                code=step.code,
                depth=run.depth,
                iteration=step.step,
                index=1,
            )
        )
        for n, child in enumerate(spawned.get(step.step, []), 1):
            sub = nodes.sub_call(cell, n)
            events.append(
                SubCallStarted(
                    **base,
                    node_id=sub,
                    parent_id=cell,
                    t=t,
                    kind="rlm",
                    model="fast-rlm/sub",
                    prompt=child.recorded_context() or "",
                    depth=child.depth,
                )
            )
            _fast_run(log, child, sub, base, events)
            events.append(
                SubCallFinished(
                    **base,
                    node_id=sub,
                    parent_id=cell,
                    t=t,
                    kind="rlm",
                    model="fast-rlm/sub",
                    response=_text(child.final) if child.has_final else None,
                    usage={},
                    cost_usd=None,
                    duration=0.0,
                    error=None if child.has_final else "the sub-agent ended without a result",
                )
            )
        output = "" if step.output is None else fast_rlm.unframe(step.output)[1]
        if output:
            events.append(
                CellOutput(**base, node_id=cell, parent_id=parent, t=t, stream="stdout", text=output)
            )
        failed = "\nError: " in output or output.startswith("Error: ")
        final = _text(run.final) if step.event_type == "code_generated" and run.has_final else None
        events.append(
            CellFinished(
                **base,
                node_id=cell,
                parent_id=parent,
                t=t,
                status="error" if failed else "ok",
                output_for_model=output,
                output_chars=len(output),
                dropped_chars=0,
                truncated=False,
                error=None,
                duration=0.0,
                final=final,
            )
        )
