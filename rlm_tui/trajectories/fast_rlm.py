"""Reading fast-rlm's JSONL logs.

Each line is one event of one run (a root or a sub-agent): ``execution_result`` (a cell and its
output), ``code_generated`` (the cell that called FINAL; no output) and ``final_result``. Recorded
outputs are framed: ``[FULL OUTPUT SHOWN]... X``, ``[TRUNCATED: Last N chars shown].. X`` (the
last N characters, counted in UTF-16 code units as JavaScript does), ``[EMPTY OUTPUT]``; the
automatic first cell's output is unframed and trimmed. X is the cell's stdout (every line ended by a
newline); a cell that raised has ``\nError: <Pyodide's traceback> `` (note the space) after it.
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
    position: int = -1  # its line in the log


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
        shown = self.shown_context()
        return shown.rebuild() if shown else None

    def shown_context(self) -> ShownContext | None:
        """What the automatic first cell shows of the run's ``context`` (a sub-agent's prompt)."""
        first = next((s for s in self.steps if s.step == 0 and s.output is not None), None)
        return shown_context(first.output) if first and first.output else None


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
                        position=position,
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


@dataclass(frozen=True)
class RecordedOutput:
    """A cell's recorded output, split into what the cell printed and the error fast-rlm appended."""

    frame: str  # full | tail | empty | raw
    stdout: str  # a tail frame: only the end of it that the log kept
    error: str | None  # Pyodide's error message (a traceback); None: the cell did not raise
    shown: int | None = None  # a tail frame: the UTF-16 units the log kept of stdout + error
    error_cut: bool = False  # a tail frame that starts inside the error: no stdout is shown


_ERROR = "\nError: "
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?::|$)")
_FRAME = re.compile(r'^  File "([^"]*)", line (\d+)(?:, in (.+))?$')


def recorded_output(output: str) -> RecordedOutput:
    frame, inner, shown = unframe(output)
    # stdout always ends with a newline; only the appended "\nError: <message> " ends with a space
    if frame not in ("full", "tail") or not inner.endswith(" "):
        return RecordedOutput(frame, inner, None, shown)
    cut = inner.rfind(_ERROR + "Traceback (most recent call last):")
    if cut == -1:
        cut = inner.rfind(_ERROR)
    if cut == -1:  # a tail frame that begins inside the error
        return RecordedOutput(frame, "", inner[:-1], shown, error_cut=True)
    return RecordedOutput(frame, inner[:cut], inner[cut + len(_ERROR) : -1], shown)


@dataclass(frozen=True)
class PythonError:
    exception: str | None  # "Type: first line of the message"; None: not a Python traceback
    frames: tuple[tuple[int, str | None], ...]  # the cell's own frames: (line, function)


def raised(text: str | None, own_file: str, *, partial: bool = False) -> PythonError:
    """The exception line and the cell's own frames of a traceback: Pyodide's (the cell's file is
    ``<exec>``) or our worker's (``<cell N>``). ``partial``: only the end of one (its first line
    may be cut), so its first frames may be missing."""
    text = text or ""
    start = text.rfind("Traceback (most recent call last):")
    lines = text[max(start, 0) :].splitlines()[1 if partial and start == -1 else 0 :]
    frames, last = [], -1
    for i, line in enumerate(lines):
        match = _FRAME.match(line)
        if match:
            last = i
            if match.group(1).startswith(own_file):
                frames.append((int(match.group(2)), match.group(3)))
    rest = [line for line in lines[last + 1 :] if line and not line.startswith(" ")]
    found = rest[0] if rest and (last != -1 or (partial and _EXCEPTION.match(rest[0]))) else None
    return PythonError(found, tuple(frames))


def where(frames: tuple[tuple[int, str | None], ...]) -> str:
    """Where a traceback's cell frames are: ``line 3`` or ``line 7 > line 2 in f``."""
    shown = " > ".join(f"line {n}" + (f" in {fn}" if fn and fn != "<module>" else "") for n, fn in frames)
    return shown or "no line of the cell"


def json_kind(value: Any) -> str:
    """The JSON type of a value read from JSON (a final result as the log holds it)."""
    kinds = ((type(None), "null"), (bool, "boolean"), ((int, float), "number"), (str, "string"))
    for types, name in (*kinds, (list, "array"), (dict, "object")):
        if isinstance(value, types):
            return name
    return type(value).__name__


def same_value(ours: Any, recorded: Any) -> bool:
    """Equal as the JSON values a log holds: boolean, number, string and null never equal one another;
    a number is a number (JavaScript has one kind, so ``1`` may have been ``1.0`` in Python)."""
    if json_kind(ours) != json_kind(recorded):
        return False
    if isinstance(ours, list):
        return len(ours) == len(recorded) and all(map(same_value, ours, recorded))
    if isinstance(ours, dict):
        return ours.keys() == recorded.keys() and all(same_value(ours[k], recorded[k]) for k in ours)
    return ours == recorded


def js_length(text: str) -> int:
    """The length JavaScript gives ``text`` (UTF-16 code units), which fast-rlm truncates by."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def js_tail(text: str, units: int) -> str:
    """``text.slice(-units)`` as JavaScript computes it."""
    if units <= 0:
        return ""
    data = text.encode("utf-16-le", "surrogatepass")[-2 * units :]
    return data.decode("utf-16-le", "surrogatepass")


HEAD = 500  # fast-rlm's first cell shows a longer context's first and last 500 characters


@dataclass(frozen=True)
class ShownContext:
    """What fast-rlm's first cell printed of ``context``: its length, and either the whole text or
    its first and last 500 characters. The log trims the output, so trailing whitespace is lost."""

    length: int
    head: str  # the whole text when ``whole``, else its first 500 characters
    tail: str = ""  # its last 500 characters, trailing whitespace trimmed
    whole: bool = True

    def matches(self, text: str) -> bool:
        """Whether ``text`` agrees with everything the log shows of it."""
        if len(text) != self.length:
            return False
        if self.whole:
            return text.rstrip() == self.head
        return text[:HEAD] == self.head and text[-HEAD:].rstrip() == self.tail

    def rebuild(self) -> str:
        """A text of the right length that agrees with what is shown; what is not shown (the
        middle of a long text, trimmed trailing whitespace) becomes spaces and newlines."""
        if self.whole:
            return self.head + "\n" * max(0, self.length - len(self.head))
        tail = self.tail + "\n" * max(0, HEAD - len(self.tail))
        if self.length < 2 * HEAD:  # head and tail overlap
            return self.head + tail[2 * HEAD - self.length :]
        return self.head + " " * (self.length - 2 * HEAD) + tail


def shown_context(output: str) -> ShownContext | None:
    length_match = re.search(r"^Context length: (\d+)$", output, re.M)
    if length_match is None:
        return None
    length = int(length_match.group(1))
    short = output.find("\nContext:  ")
    if short != -1 and length <= HEAD:
        return ShownContext(length, output[short + len("\nContext:  ") :])
    head_mark = "First 500 characters of str(context):  "
    tail_mark = "\n---\nLast 500 characters of str(context):  "
    h = output.find(head_mark)
    if h == -1:
        return None
    start = h + len(head_mark)
    if not output.startswith(tail_mark, start + HEAD):
        return None
    return ShownContext(length, output[start : start + HEAD], output[start + HEAD + len(tail_mark) :], False)


def context_from_first_output(output: str) -> str | None:
    """Rebuild ``context`` from fast-rlm's automatic first cell.

    A short context is printed whole. A long one shows its first and last 500 characters and its
    length: the middle is filled with spaces, so the length, head and tail are right.
    """
    shown = shown_context(output)
    return shown.rebuild() if shown else None
