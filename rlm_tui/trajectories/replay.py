"""``rlm replay``: re-execute a fast-rlm log's root cells in our worker and compare the outputs.

Each ``llm_query`` is answered with the recorded result of the matching sub-agent (matched by the
prompt it was given, as its first recorded cell shows; else the next one in log order). The
comparison follows fast-rlm's own capture: stdout only, every line ended by a newline, and a
failing cell recorded as its stdout plus ``\\nError: <traceback>``, which matches when our cell
raised the same exception type after the same stdout.
"""

from __future__ import annotations

import ast
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.sandbox.host import CellResult, SubCallRejected, SubCallRequest, Worker
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.trajectories import fast_rlm

_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)):?", re.M)


@dataclass
class CellCheck:
    step: int
    kind: str  # output | final
    matched: bool
    detail: str = ""


@dataclass
class ReplayReport:
    path: str
    checks: list[CellCheck]
    notes: list[str] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return sum(c.matched for c in self.checks)

    def lines(self) -> list[str]:
        out = [f"replaying {self.path}", *(f"note: {n}" for n in self.notes)]
        for c in self.checks:
            label = "final" if c.kind == "final" else "output"
            verdict = "match" if c.matched else "DIFF"
            out.append(f"cell {c.step:>3} {label:<6} {verdict}" + (f"  {c.detail}" if c.detail else ""))
        out.append(f"cells matched: {self.matched}/{len(self.checks)}")
        return out


class RecordedChildren:
    """Answers sub-calls from the sub-agents recorded under one run."""

    def __init__(self, children: list[fast_rlm.Run]) -> None:
        self.pending = list(children)

    def take(self, prompt: str) -> Any:
        if not self.pending:
            raise SubCallRejected("the log records no further sub-agent for this call")
        index = next((i for i, c in enumerate(self.pending) if _same_prompt(c.recorded_context(), prompt)), 0)
        child = self.pending.pop(index)
        if not child.has_final:
            raise SubCallRejected("the recorded sub-agent ended without a result")
        return child.final

    async def handle(self, req: SubCallRequest) -> Any:
        if req.fn in ("llm_query", "rlm_query"):
            return self.take(req.args["prompt"])
        answers = []
        for prompt in req.args["prompts"]:
            try:
                answers.append(self.take(prompt))
            except SubCallRejected as exc:
                answers.append(f"Error: {exc}")
        return answers


def _same_prompt(recorded: str | None, prompt: str) -> bool:
    if recorded is None or len(recorded) != len(prompt):
        return False
    if len(prompt) <= 1000:
        return recorded.rstrip() == prompt.rstrip()
    return recorded[:500] == prompt[:500] and recorded[-500:].rstrip() == prompt[-500:].rstrip()


def _exception_type(text: str | None) -> str | None:
    if not text:
        return None
    found = _EXC_LINE.findall(text)
    return found[-1].rsplit(".", 1)[-1] if found else None


def _pyodide_stdout(result: CellResult) -> str:
    text = result.stdout
    return text + "\n" if text and not text.endswith("\n") else text


def compare_output(step: fast_rlm.Step, result: CellResult) -> CellCheck:
    frame, inner, tail = fast_rlm.unframe(step.output or "")
    ours = _pyodide_stdout(result)
    if frame == "raw":
        return _check(step, ours.strip() == inner.strip(), ours.strip(), inner.strip())
    if frame == "empty":
        return _check(step, ours == "" and result.status == "ok", ours, "")
    recorded_error = None
    cut = inner.rfind("\nError: ")
    if cut != -1 and frame == "full":
        inner, recorded_error = inner[:cut], inner[cut + len("\nError: ") :]
    elif cut != -1 and frame == "tail":
        recorded_error = inner[cut + len("\nError: ") :]
    if recorded_error is not None:
        want, got = _exception_type(recorded_error), _exception_type(result.error)
        if result.status != "error" or want != got:
            return CellCheck(
                step.step, "output", False, f"recorded {want or 'an error'}, ours {got or result.status}"
            )
        if frame == "tail":
            ours = ours + "\nError: " + recorded_error
    elif result.status != "ok":
        return CellCheck(
            step.step, "output", False, f"ours raised {_exception_type(result.error) or result.status}"
        )
    if frame == "tail":
        assert tail is not None
        return _check(step, ours[-tail:] == inner, ours[-tail:], inner)
    return _check(step, ours == inner, ours, inner)


def _check(step: fast_rlm.Step, ok: bool, ours: str, recorded: str) -> CellCheck:
    if ok:
        return CellCheck(step.step, "output", True)
    at = next(
        (i for i, (a, b) in enumerate(zip(ours, recorded, strict=False)) if a != b),
        min(len(ours), len(recorded)),
    )
    return CellCheck(
        step.step,
        "output",
        False,
        f"first difference at char {at}: ours {ours[at : at + 40]!r} vs recorded {recorded[at : at + 40]!r}",
    )


def _as_value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text


def compare_final(step: fast_rlm.Step, result: CellResult, recorded: Any) -> CellCheck:
    if result.final is None:
        return CellCheck(step.step, "final", False, f"no FINAL was called (cell status {result.status})")
    ok = result.final == recorded or _as_value(result.final) == _as_value(recorded)
    return CellCheck(
        step.step, "final", ok, "" if ok else f"ours {result.final[:60]!r} vs recorded {str(recorded)[:60]!r}"
    )


async def replay(
    path: str | Path, *, cell_timeout: float = 120.0, workdir: str | Path | None = None
) -> ReplayReport:
    log = fast_rlm.load(path)
    root = log.root
    children = RecordedChildren(log.children(root))
    tmp = tempfile.TemporaryDirectory(prefix="rlm-replay-") if workdir is None else None
    worker = Worker(workdir or tmp.name, SandboxSettings())  # type: ignore[union-attr]
    checks: list[CellCheck] = []
    try:
        await worker.start()
        await worker.set_vars(context=root.recorded_context() or "")
        for step in root.cells:
            result = await worker.run_cell(
                step.code, timeout=cell_timeout, on_call=children.handle, snapshot=False
            )
            if step.event_type == "code_generated":
                checks.append(compare_final(step, result, root.final))
            else:
                checks.append(compare_output(step, result))
    finally:
        await worker.close()
        if tmp is not None:
            tmp.cleanup()
    notes = []
    first = next((s.output for s in root.steps if s.step == 0 and s.output), "")
    if "First 500 characters of str(context)" in first:
        notes.append(
            "the log records only the first and last 500 characters of `context`; the middle is filled "
            "with spaces here, so cells that read it cannot match"
        )
    return ReplayReport(str(path), checks, notes)
