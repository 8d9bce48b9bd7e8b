"""``rlm replay``: re-execute a fast-rlm log's root cells in our worker and compare the outputs.

Each cell gets one verdict. *matched*: everything the log recorded of the cell equals ours: its
stdout (fast-rlm captures stdout only, every line ended by a newline), whether it raised, and for a
cell that raised, the exception line (``Type: first line of the message``) and the line numbers of
the cell's own frames (Pyodide's frames and notes are not ours to match). *mismatched*: something
recorded differs. *unverifiable*: what the log kept agrees with ours but does not cover the cell:
a truncated output (only its last N characters are kept), an error that is not a Python
traceback, a final result the log does not hold or that our value's type cannot be compared with.

A FINAL value is compared with the recorded one by JSON type (fast-rlm logs the value as
JavaScript saw it): ``True`` is not ``1``, ``"1"`` is not ``1``; ``1`` and ``1.0`` are both a
JavaScript number. Our worker renders FINAL values to text, so replay wraps that rendering in the
worker to keep the value itself.

Each ``llm_query`` is answered with the recorded result of the sub-agent that was given the same
prompt: the same length and the text its first cell shows (the whole prompt up to 500 characters,
else its first and last 500). A call whose prompt matches no recorded one fails the way a failed
llm_query does (``SubCallError``; an item of a batched call becomes an ``Error: ...`` string), is
listed in the report and makes its cell mismatched; so does a recorded sub-agent its cell did not
ask for.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.rendering import render_value
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.types import CellResult, SubCallRejected, SubCallRequest
from rlm_tui.trajectories import fast_rlm

MATCHED, MISMATCHED, UNVERIFIABLE = "matched", "mismatched", "unverifiable"
_LABELS = {MATCHED: "match", MISMATCHED: "DIFF", UNVERIFIABLE: "unverifiable"}
_ENDED = {"timeout": "timed out", "crashed": "crashed", "interrupted": "was interrupted"}
UNMATCHED_PROMPT = "replay: no recorded sub-agent was given this prompt"
UNFINISHED_CHILD = "replay: the recorded sub-agent ended without a result"

# Run once in the worker, hidden: FINAL's value is kept (the worker itself keeps only its text) for
# __rlm_replay_take__() to print as JSON. Both live in builtins, so the model's globals stay as
# they were.
_CAPTURE_SETUP = """
def __rlm_replay_setup():
    import builtins, json, sys
    namespace = sys.modules["rlm_tui.sandbox.worker.namespace"]
    render = namespace.render_text
    def keep(value):
        builtins.__rlm_replay_final__ = value
        return render(value)
    def take():
        if "__rlm_replay_final__" not in builtins.__dict__:
            return print(json.dumps({"type": None, "json": None}))
        value = builtins.__dict__.pop("__rlm_replay_final__")
        try:
            shown = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            shown = None
        print(json.dumps({"type": type(value).__name__, "json": shown}))
    namespace.render_text = keep
    builtins.__rlm_replay_take__ = take
__rlm_replay_setup()
del __rlm_replay_setup
"""
_CAPTURE_TAKE = "__rlm_replay_take__()"


@dataclass
class CellCheck:
    step: int
    kind: str  # output | final
    verdict: str  # matched | mismatched | unverifiable
    detail: str = ""

    @property
    def matched(self) -> bool:
        return self.verdict == MATCHED


@dataclass
class UnmatchedCall:
    step: int
    fn: str
    prompt: str

    def describe(self) -> str:
        preview = self.prompt[:60] + ("..." if len(self.prompt) > 60 else "")
        return (
            f"cell {self.step:>3} {self.fn} prompt ({len(self.prompt):,} chars) {preview!r} matches no "
            f"recorded sub-agent; the call failed with SubCallError: {UNMATCHED_PROMPT}"
        )


@dataclass
class ReplayReport:
    path: str
    checks: list[CellCheck]
    notes: list[str] = field(default_factory=list)
    unmatched_calls: list[UnmatchedCall] = field(default_factory=list)
    answered_calls: int = 0

    def count(self, verdict: str) -> int:
        return sum(c.verdict == verdict for c in self.checks)

    @property
    def matched(self) -> int:
        return self.count(MATCHED)

    @property
    def mismatched(self) -> int:
        return self.count(MISMATCHED)

    @property
    def unverifiable(self) -> int:
        return self.count(UNVERIFIABLE)

    @property
    def ok(self) -> bool:
        """Every cell matched (a cell with an unmatched sub-call never does)."""
        return bool(self.checks) and self.matched == len(self.checks) and not self.unmatched_calls

    def lines(self) -> list[str]:
        out = [f"replaying {self.path}", *(f"note: {n}" for n in self.notes)]
        for c in self.checks:
            row = f"cell {c.step:>3} {c.kind:<6} {_LABELS[c.verdict]:<12}"
            out.append(f"{row}  {c.detail}" if c.detail else row.rstrip())
        out.extend(u.describe() for u in self.unmatched_calls)
        out.append(
            f"sub-calls answered from the log: {self.answered_calls}; "
            f"matching no recorded prompt: {len(self.unmatched_calls)}"
        )
        out.append(
            f"cells matched: {self.matched}/{len(self.checks)}, mismatched: {self.mismatched}, "
            f"unverifiable: {self.unverifiable}"
        )
        return out


class RecordedChildren:
    """Answers sub-calls from the sub-agents recorded under one run, by the prompt each was given."""

    def __init__(self, children: list[fast_rlm.Run]) -> None:
        self.pending = list(children)
        self.shown = {c.run_id: c.shown_context() for c in children}
        self.step = 0  # the cell running now
        self.answered = 0
        self.partly_checked = 0  # prompts whose middle the log does not show
        self.unfinished = 0  # calls whose recorded sub-agent has no result
        self.unmatched: list[UnmatchedCall] = []

    def take(self, fn: str, prompt: str) -> Any:
        child = next((c for c in self.pending if self._matches(c, prompt)), None)
        if child is None:
            self.unmatched.append(UnmatchedCall(self.step, fn, prompt))
            raise SubCallRejected(UNMATCHED_PROMPT)
        self.pending.remove(child)
        if not child.has_final:
            self.unfinished += 1
            raise SubCallRejected(UNFINISHED_CHILD)
        self.answered += 1
        self.partly_checked += len(prompt) > 2 * fast_rlm.HEAD
        return child.final

    def _matches(self, child: fast_rlm.Run, prompt: str) -> bool:
        shown = self.shown[child.run_id]
        return shown is not None and shown.matches(prompt)

    async def handle(self, req: SubCallRequest) -> Any:
        if req.fn in ("llm_query", "rlm_query"):
            return self.take(req.fn, req.args["prompt"])
        answers = []
        for prompt in req.args["prompts"]:
            try:
                answers.append(self.take(req.fn, prompt))
            except SubCallRejected as exc:
                answers.append(f"Error: {exc}")
        return answers


def _pyodide_stdout(result: CellResult) -> str:
    text = result.stdout
    return text + "\n" if text and not text.endswith("\n") else text


def _first_difference(ours: str, recorded: str) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(ours, recorded, strict=False)) if a != b),
        min(len(ours), len(recorded)),
    )
    return (
        f"first difference at char {at}: ours {ours[at : at + 40]!r} vs recorded {recorded[at : at + 40]!r}"
    )


def compare_output(step: fast_rlm.Step, result: CellResult, called_final: bool = False) -> CellCheck:
    rec = fast_rlm.recorded_output(step.output or "")
    ours = _pyodide_stdout(result)

    def check(verdict: str, detail: str = "") -> CellCheck:
        return CellCheck(step.step, "output", verdict, detail)

    if result.status not in ("ok", "error"):
        return check(MISMATCHED, f"ours {_ENDED.get(result.status, 'ended ' + result.status)}")
    if called_final:
        return check(MISMATCHED, "ours called FINAL; the recorded cell did not end the run")
    got = fast_rlm.raised(result.error, "<cell") if result.status == "error" else None
    if got is not None and rec.error is None:
        return check(MISMATCHED, f"ours raised {got.exception or 'an error'}; the recorded cell did not")
    if got is None and rec.error is not None:
        want = fast_rlm.raised(rec.error, "<exec>").exception
        return check(MISMATCHED, f"the recorded cell raised {want or 'an error'}; ours did not")
    if rec.frame == "raw":  # the automatic first cell: the log trimmed its output
        same = ours.strip() == rec.stdout.strip()
        return (
            check(MATCHED) if same else check(MISMATCHED, _first_difference(ours.strip(), rec.stdout.strip()))
        )
    if rec.frame == "tail":
        shown = fast_rlm.js_length(rec.stdout)
        if not rec.error_cut and fast_rlm.js_length(ours) <= shown:
            return check(
                MISMATCHED,
                f"the log shows the last {shown:,} characters of a longer output; ours printed "
                f"{fast_rlm.js_length(ours):,}",
            )
        if fast_rlm.js_tail(ours, shown) != rec.stdout:
            return check(
                MISMATCHED,
                "in the shown tail, " + _first_difference(fast_rlm.js_tail(ours, shown), rec.stdout),
            )
    elif ours != rec.stdout:
        return check(MISMATCHED, _first_difference(ours, rec.stdout))
    raised = ""
    if rec.error is not None and got is not None:
        want = fast_rlm.raised(rec.error, "<exec>", partial=rec.error_cut)
        if want.exception is None and rec.error_cut:
            return check(UNVERIFIABLE, "the log keeps too little of the end of its error to compare")
        if want.exception is None:
            return check(
                UNVERIFIABLE, f"the log records an error that is not a Python traceback: {rec.error[:60]!r}"
            )
        if want.exception != got.exception:
            return check(MISMATCHED, f"recorded {want.exception!r}, ours {got.exception!r}")
        # a cut error shows only its last frames
        ours_frames = (
            got.frames[max(0, len(got.frames) - len(want.frames)) :] if rec.error_cut else got.frames
        )
        if ours_frames != want.frames:
            return check(
                MISMATCHED,
                f"ours raised at {fast_rlm.where(got.frames)}, the recorded cell at {fast_rlm.where(want.frames)}",
            )
        raised = f"raised {want.exception.split(':', 1)[0]} at {fast_rlm.where(want.frames)}"
    if rec.frame == "tail":
        unchecked = fast_rlm.js_length(ours) - fast_rlm.js_length(rec.stdout)
        what = "the end of its error" if rec.error_cut else f"the last {rec.shown:,} characters of the output"
        return check(
            UNVERIFIABLE,
            f"the log keeps only {what}, which match; the first {unchecked:,} characters of ours are unchecked",
        )
    return check(MATCHED, raised)


@dataclass(frozen=True)
class FinalValue:
    """Our FINAL value as the worker reported it: its Python type, and its JSON (None: not JSON)."""

    type: str
    json: str | None


def compare_final(
    step: fast_rlm.Step, result: CellResult, value: FinalValue | None, root: fast_rlm.Run
) -> CellCheck:
    def check(verdict: str, detail: str = "") -> CellCheck:
        return CellCheck(step.step, "final", verdict, detail)

    if result.final is None:
        raised = fast_rlm.raised(result.error, "<cell").exception if result.status == "error" else None
        return check(MISMATCHED, f"no FINAL was called (ours {raised or 'ended ' + result.status})")
    if not root.has_final:
        return check(UNVERIFIABLE, "the log records no final result")
    recorded = root.final
    if value is None:  # the worker gave the text of the value only
        if result.final != render_value(recorded):
            return check(MISMATCHED, f"ours {result.final[:60]!r} vs recorded {str(recorded)[:60]!r}")
        return check(UNVERIFIABLE, "the text is the same; our worker did not report the value's type")
    if value.json is None and isinstance(recorded, (dict, list)):
        # Pyodide hands a set or an object to JavaScript as a proxy: no telling what the log made of it
        return check(UNVERIFIABLE, f"ours is a {value.type}, which a fast-rlm log cannot hold as it is")
    ours = json.loads(value.json) if value.json is not None else None
    if value.json is not None and fast_rlm.same_value(ours, recorded):
        return check(MATCHED)
    if isinstance(ours, str) and isinstance(recorded, str):
        return check(MISMATCHED, _first_difference(ours, recorded))
    shown = json.dumps(ours, ensure_ascii=False) if value.json is not None else result.final
    wanted = json.dumps(recorded, ensure_ascii=False)
    return check(
        MISMATCHED, f"ours {value.type} {shown[:60]} vs recorded {fast_rlm.json_kind(recorded)} {wanted[:60]}"
    )


def _spawned_by(cells: list[fast_rlm.Step], children: list[fast_rlm.Run]) -> dict[int, list[fast_rlm.Run]]:
    """The recorded sub-agents each cell started: a sub-agent logs its first line while the cell
    that called it runs, so before that cell's own line (-1: after the last recorded cell)."""
    owners: dict[int, list[fast_rlm.Run]] = {}
    for child in children:
        owner = next((s.step for s in cells if s.position > child.order), -1)
        owners.setdefault(owner, []).append(child)
    return owners


def _with_sub_calls(check: CellCheck, unmatched: int, unasked: int) -> CellCheck:
    """A cell that asked what no recorded sub-agent was asked, or did not ask what one was, differs."""
    why = [f"{unmatched} sub-call prompt(s) match no recorded one"] if unmatched else []
    if unasked:
        why.append(f"{unasked} sub-agent(s) the recorded cell started were never asked")
    if not why:
        return check
    return CellCheck(
        check.step, check.kind, MISMATCHED, "; ".join([*why, check.detail] if check.detail else why)
    )


async def _take_final(worker: Worker, result: CellResult, capturing: bool) -> FinalValue | None:
    if not capturing or result.final is None:
        return None
    probe = await worker.run_cell(_CAPTURE_TAKE, timeout=60.0, snapshot=False)
    if probe.status != "ok" or probe.dropped_chars:
        return None
    taken = json.loads(probe.stdout)
    return FinalValue(**taken) if taken["type"] is not None else None


async def replay(
    path: str | Path, *, cell_timeout: float = 120.0, workdir: str | Path | None = None
) -> ReplayReport:
    log = fast_rlm.load(path)
    root = log.root
    children = log.children(root)
    answers = RecordedChildren(children)
    spawned = _spawned_by(root.cells, children)
    tmp = tempfile.TemporaryDirectory(prefix="rlm-replay-") if workdir is None else None
    worker = Worker(workdir or tmp.name, SandboxSettings())  # type: ignore[union-attr]
    checks: list[CellCheck] = []
    notes: list[str] = []
    try:
        await worker.start()
        await worker.set_vars(context=root.recorded_context() or "")
        setup = await worker.run_cell(_CAPTURE_SETUP, timeout=60.0, snapshot=False)
        capturing = setup.status == "ok"
        if not capturing:
            notes.append("FINAL values are compared as text only: " + (setup.error or setup.status).strip())
        for step in root.cells:
            answers.step = step.step
            before = len(answers.unmatched)
            result = await worker.run_cell(
                step.code, timeout=cell_timeout, on_call=answers.handle, snapshot=False
            )
            value = await _take_final(worker, result, capturing)
            if step.event_type == "code_generated":
                check = compare_final(step, result, value, root)
            else:
                called_final = result.final is not None and (value is None or value.type != "NoneType")
                check = compare_output(step, result, called_final)  # FINAL(None) does not end fast-rlm
            unasked = sum(c in answers.pending for c in spawned.get(step.step, []))
            check = _with_sub_calls(check, len(answers.unmatched) - before, unasked)
            checks.append(check)
    finally:
        await worker.close()
        if tmp is not None:
            tmp.cleanup()
    shown = root.shown_context()
    if shown is not None and shown.length > 2 * fast_rlm.HEAD:
        notes.append(
            "the log records only the first and last 500 characters of `context`; the middle is filled "
            "with spaces here, so cells that read it cannot match"
        )
    if answers.partly_checked:
        notes.append(
            f"{answers.partly_checked} sub-call prompt(s) were matched on their length and first and last "
            "500 characters, all the log shows of them"
        )
    if answers.unfinished:
        notes.append(
            f"{answers.unfinished} sub-call(s) went to a recorded sub-agent that ended without a result; "
            f"they failed with SubCallError: {UNFINISHED_CHILD}"
        )
    if spawned.get(-1):
        notes.append(
            f"the log ends while {len(spawned[-1])} sub-agent(s) started by an unrecorded cell were running"
        )
    return ReplayReport(str(path), checks, notes, list(answers.unmatched), answers.answered)
