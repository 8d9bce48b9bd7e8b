"""The one fold of events into turns: what each turn asked, did and answered.

``TurnFold.apply`` takes events one at a time (a live turn) or all at once (a recorded session, a
converted log). The export, ``rlm sessions show`` and the app's view model all read the same
records, so a turn is summed up the same way everywhere.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rlm_tui.events import (
    AnswerReady,
    CellFinished,
    CellOutput,
    CellStarted,
    Compacted,
    Error,
    Event,
    ModelFinished,
    ModelStarted,
    SubCallFinished,
    SubCallStarted,
    TurnFinished,
    TurnStarted,
    with_system_prompt,
)

RUNNING = "running"


@dataclass
class SubCallRecord:
    node: str
    kind: str  # llm | rlm
    model: str
    prompt: str
    depth: int
    cached: bool = False
    status: str = RUNNING  # running | ok | cached | error | cancelled
    response: str = ""
    error: str = ""
    duration: float | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    cost: float | None = None


@dataclass
class CellRecord:
    node_id: str
    turn: int
    iteration: int
    index: int
    depth: int
    code: str
    started: float = 0.0
    chunks: list[tuple[str, str]] = field(default_factory=list)
    status: str = RUNNING
    duration: float | None = None
    error: str | None = None
    output_chars: int = 0
    dropped_chars: int = 0
    output_for_model: str = ""
    final: str | None = None
    calls: list[SubCallRecord] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(text for _, text in self.chunks)

    def stream(self, name: str) -> str:
        return "".join(text for stream, text in self.chunks if stream == name)


@dataclass
class IterationRecord:
    """One model call of an RLM (the root's or a child's), with the code cells of its reply."""

    node: str
    parent: str
    depth: int
    number: int  # 0 for the best-answer call after a limit
    model: str
    t: float
    prompt: list[Mapping[str, str]]  # the whole prompt of this call, system prompt first
    response: str = ""
    duration: float | None = None
    error: str | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    cost: float | None = None
    stop_reason: str | None = None
    cells: list[CellRecord] = field(default_factory=list)
    final: str | None = None


@dataclass
class TurnRecord:
    number: int
    user: str
    started: float
    root_model: str = ""
    sub_model: str = ""
    answer: str | None = None
    status: str = RUNNING  # running until TurnFinished: a recorded turn never finished was interrupted
    stopped_by: str | None = None
    error: str | None = None
    duration: float | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    iterations: list[IterationRecord] = field(default_factory=list)  # the root RLM's, in order
    compactions: list[Compacted] = field(default_factory=list)  # of any RLM of the turn
    cells: list[str] = field(default_factory=list)  # every cell of the turn, any depth
    counts: Counter = field(default_factory=Counter)  # steps by kind and depth, for summaries
    events: int = 0

    @property
    def outcome(self) -> str:
        """The status as a record tells it: a turn that never finished was interrupted."""
        return "interrupted" if self.status == RUNNING else self.status


class TurnFold:
    def __init__(self, make_turn: Callable[[TurnStarted], TurnRecord] | None = None) -> None:
        self.turns: dict[int, TurnRecord] = {}
        self.iterations: dict[str, IterationRecord] = {}
        self.cells: dict[str, CellRecord] = {}
        self.sub_calls: dict[str, SubCallRecord] = {}
        self._make_turn = make_turn or _new_turn
        self._prompts: dict[str, list[Mapping[str, str]]] = defaultdict(list)  # per RLM node
        self._system: Mapping[str, str] | None = None  # recorded once per session
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            TurnStarted: self._turn_started,
            ModelStarted: self._model_started,
            ModelFinished: self._model_finished,
            CellStarted: self._cell_started,
            CellOutput: self._cell_output,
            CellFinished: self._cell_finished,
            SubCallStarted: self._sub_call_started,
            SubCallFinished: self._sub_call_finished,
            AnswerReady: self._answer_ready,
            TurnFinished: self._turn_finished,
            Error: self._error,
            Compacted: self._compacted,
        }

    def apply(self, event: Event) -> None:
        turn = self.turns.get(event.turn)
        if turn is not None:
            turn.events += 1
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def apply_all(self, events: Iterable[Event]) -> TurnFold:
        for event in events:
            self.apply(event)
        return self

    def ordered(self) -> list[TurnRecord]:
        return [self.turns[n] for n in sorted(self.turns)]

    # -- handlers ----------------------------------------------------------------------------

    def _turn_started(self, e: TurnStarted) -> None:
        record = self._make_turn(e)
        record.events += 1
        self.turns[e.turn] = record

    def _model_started(self, e: ModelStarted) -> None:
        prompt = self._prompts[e.parent_id or ""]
        prompt.extend(with_system_prompt(self._system, prompt, e.messages))
        if prompt and prompt[0]["role"] == "system":
            self._system = prompt[0]
        record = IterationRecord(
            e.node_id, e.parent_id or "", e.depth, e.iteration, e.model, e.t, list(prompt)
        )
        self.iterations[e.node_id] = record
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.counts[f"iterations at depth {e.depth}"] += 1
            if e.depth == 0:
                turn.iterations.append(record)

    def _model_finished(self, e: ModelFinished) -> None:
        record = self.iterations.get(e.node_id)
        if record is not None:
            record.response, record.duration, record.error = e.text, e.duration, e.error
            record.usage, record.cost, record.stop_reason = e.usage, e.cost_usd, e.stop_reason

    def _cell_started(self, e: CellStarted) -> None:
        record = CellRecord(e.node_id, e.turn, e.iteration, e.index, e.depth, e.code, started=e.t)
        self.cells[e.node_id] = record
        iteration = self.iterations.get(e.parent_id or "")
        if iteration is not None:
            iteration.cells.append(record)
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.cells.append(e.node_id)

    def _cell_output(self, e: CellOutput) -> None:
        record = self.cells.get(e.node_id)
        if record is not None:
            record.chunks.append((e.stream, e.text))

    def _cell_finished(self, e: CellFinished) -> None:
        record = self.cells.get(e.node_id)
        if record is None:
            return
        record.status, record.duration, record.error = e.status, e.duration, e.error
        record.output_chars, record.dropped_chars = e.output_chars, e.dropped_chars
        record.output_for_model, record.final = e.output_for_model, e.final
        iteration = self.iterations.get(e.parent_id or "")
        if iteration is not None and e.final is not None:
            iteration.final = e.final
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.counts[f"cells {e.status}"] += 1

    def _sub_call_started(self, e: SubCallStarted) -> None:
        record = SubCallRecord(e.node_id, e.kind, e.model, e.prompt, e.depth, e.cached)
        self.sub_calls[e.node_id] = record
        cell = self.cells.get(e.parent_id or "")
        if cell is not None:
            cell.calls.append(record)
        turn = self.turns.get(e.turn)
        if turn is not None:
            cached = " (cached)" if e.cached else ""
            turn.counts[f"{e.kind} sub-calls at depth {e.depth}{cached}"] += 1

    def _sub_call_finished(self, e: SubCallFinished) -> None:
        record = self.sub_calls.get(e.node_id)
        if record is None:
            return
        if e.error:
            record.status = "cancelled" if e.error == "cancelled" else "error"
        else:
            record.status = "cached" if e.cached else "ok"
        record.response, record.error, record.duration = e.response or "", e.error or "", e.duration
        record.usage, record.cost, record.cached = e.usage, e.cost_usd, e.cached

    def _answer_ready(self, e: AnswerReady) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.answer, turn.stopped_by = e.answer, e.stopped_by
            if turn.iterations and turn.iterations[-1].final is None:
                turn.iterations[-1].final = e.answer

    def _turn_finished(self, e: TurnFinished) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.status, turn.duration, turn.usage = e.status, e.duration, e.usage
            turn.error = e.error or turn.error
            turn.stopped_by = turn.stopped_by or e.stopped_by

    def _compacted(self, e: Compacted) -> None:
        """The RLM's prompt from here on: the summary joins its first message, the removed
        iterations' messages are gone (the same change the engine made before its next call)."""
        prompt = self._prompts[e.parent_id or ""]
        first = next((i for i, m in enumerate(prompt) if m["role"] != "system"), None)
        if first is not None:
            head = prompt[first]
            prompt[first] = {"role": head["role"], "content": head["content"] + e.summary}
            del prompt[first + 1 : first + 1 + e.removed]
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.compactions.append(e)
            turn.counts["compactions"] += 1

    def _error(self, e: Error) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.error = e.message


def _new_turn(e: TurnStarted) -> TurnRecord:
    return TurnRecord(e.turn, e.user_message, e.t, e.root_model, e.sub_model)


def fold_turns(events: Iterable[Event]) -> list[TurnRecord]:
    return TurnFold().apply_all(events).ordered()
