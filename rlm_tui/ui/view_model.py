"""What the screens show, kept up to date from events: turns, code cells and the call tree.

Pure Python (no Textual), so live turns, recorded sessions and converted trajectory logs all go
through the same ``apply`` and the widgets only draw what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    ModelDelta,
    ModelFinished,
    ModelStarted,
    Notice,
    SubCallFinished,
    SubCallStarted,
    TurnFinished,
    TurnStarted,
    counts_as_a_call,
    nodes,
    usage_tokens,
)
from rlm_tui.events.fold import RUNNING, CellRecord, TurnFold, TurnRecord

Cell = CellRecord  # the cells pane shows the fold's records as they are


@dataclass
class Node:
    """One node of the call tree: a turn, a root-model iteration, a cell, or a sub-call."""

    id: str
    parent: str | None
    kind: str  # turn | iteration | cell | llm | rlm | compaction
    title: str
    depth: int = 0
    status: str = RUNNING
    model: str = ""
    started: float = 0.0
    duration: float | None = None
    tokens: int = 0
    cost: float | None = 0.0  # None: the price is unknown
    cached: bool = False
    cost_complete: bool = True  # a total with calls of unknown price in it
    estimated: bool = False  # token counts of ours: the provider reported none
    prompt: str = ""
    response: str = ""
    error: str = ""
    children: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Turn(TurnRecord):
    """A turn as the chat shows it: the fold's record, and the reply streaming in."""

    draft: str = ""  # the reply of the current root iteration, as it streams
    draft_node: str | None = None
    notices: list[str] = field(default_factory=list)


def _turn(e: TurnStarted) -> Turn:
    return Turn(e.turn, e.user_message, e.t, e.root_model, e.sub_model)


def _prompt_text(prompt: list[Mapping[str, str]]) -> str:
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in prompt)


@dataclass
class Changes:
    """What one batch of events touched: the widgets redraw just that."""

    turns: set[int] = field(default_factory=set)
    new_turns: list[int] = field(default_factory=list)
    drafts: dict[int, str] = field(default_factory=dict)  # turn -> text appended to its draft
    new_drafts: set[int] = field(default_factory=set)  # turns whose draft restarted
    drafts_done: set[int] = field(default_factory=set)  # turns whose current reply is complete
    cells: set[str] = field(default_factory=set)
    new_cells: list[str] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    new_nodes: list[str] = field(default_factory=list)
    notices: list[tuple[int, str]] = field(default_factory=list)
    compactions: list[tuple[int, str]] = field(default_factory=list)  # (turn, what to say in the cells)

    def __bool__(self) -> bool:
        return any(
            (
                self.turns,
                self.new_turns,
                self.drafts,
                self.cells,
                self.new_cells,
                self.nodes,
                self.new_nodes,
                self.notices,
                self.compactions,
            )
        )


class ViewModel:
    def __init__(self) -> None:
        self.fold = TurnFold(make_turn=_turn)
        self.turns: dict[int, Turn] = self.fold.turns  # type: ignore[assignment]
        self.cells: dict[str, Cell] = self.fold.cells
        self.nodes: dict[str, Node] = {}
        self.roots: list[str] = []
        self.session_tokens = 0
        self.session_cost = 0.0
        self.session_cost_known = True
        self.session_estimated = False  # some of the session's token counts are ours
        self.estimated_turns: set[int] = set()  # turns with token counts of ours
        self.models: tuple[str, str] = ("", "")  # root and sub-model of the latest recorded turn
        self._running: set[str] = set()  # ids of nodes still running (kept, not searched for)
        self._live: dict[int, list[Any]] = {}  # turn -> [tokens, cost, all priced] of calls so far

    # -- queries ---------------------------------------------------------------------------

    @property
    def last_turn(self) -> Turn | None:
        return self.turns[max(self.turns)] if self.turns else None

    def running_nodes(self) -> list[Node]:
        done = [i for i in self._running if self.nodes[i].status != RUNNING]
        self._running.difference_update(done)
        return [self.nodes[i] for i in self._running]

    def live_usage(self, number: int) -> tuple[int, float, bool]:
        """Tokens and cost of a running turn's finished calls so far (its TurnFinished has the
        final figures)."""
        tokens, cost, known = self._live.get(number, (0, 0.0, True))
        return tokens, cost, known

    def _count(self, turn: int, usage: Mapping[str, Any] | None, cost: float | None) -> None:
        if not usage:  # a call that failed or was cancelled: nothing to count, nothing unpriced
            return
        live = self._live.setdefault(turn, [0, 0.0, True])
        live[0] += usage_tokens(usage)
        if usage.get("estimated"):
            self.estimated_turns.add(turn)
        if cost is None:
            live[2] = False
        else:
            live[1] += cost

    def nodes_by_depth(self) -> dict[tuple[str, int], int]:
        counts: dict[tuple[str, int], int] = {}
        for node in self.nodes.values():
            key = (node.kind, node.depth)
            counts[key] = counts.get(key, 0) + 1
        return counts

    # -- updates ---------------------------------------------------------------------------

    def apply_all(self, events: list[Event], changes: Changes | None = None) -> Changes:
        changes = changes or Changes()
        for event in events:
            self.apply(event, changes)
        return changes

    def _node(self, changes: Changes, node: Node) -> Node:
        existing = self.nodes.get(node.id)
        if existing is not None:  # a replayed or duplicated start: keep the first
            return existing
        self.nodes[node.id] = node
        if node.status == RUNNING:
            self._running.add(node.id)
        if node.parent is None:
            self.roots.append(node.id)
        elif node.parent in self.nodes:
            self.nodes[node.parent].children.append(node.id)
        changes.new_nodes.append(node.id)
        return node

    def apply(self, event: Event, changes: Changes) -> None:
        self.fold.apply(event)  # the turn-level records: answer, status, cells, prompts
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, event, changes)

    def _on_turn_started(self, e: TurnStarted, ch: Changes) -> None:
        self.models = (e.root_model, e.sub_model)
        ch.new_turns.append(e.turn)
        first_line = e.user_message.strip().splitlines()[0] if e.user_message.strip() else ""
        self._node(
            ch,
            Node(
                e.node_id,
                None,
                "turn",
                f"Turn {e.turn}: {first_line[:60]}",
                started=e.t,
                model=e.root_model,
                prompt=e.user_message,
            ),
        )

    def _on_model_started(self, e: ModelStarted, ch: Changes) -> None:
        title = "best answer" if e.iteration == 0 else f"iteration {e.iteration}"
        prompt = _prompt_text(self.fold.iterations[e.node_id].prompt)
        self._node(
            ch,
            Node(
                e.node_id,
                e.parent_id,
                "iteration",
                title,
                depth=e.depth,
                model=e.model,
                started=e.t,
                prompt=prompt,
            ),
        )
        turn = self.turns.get(e.turn)
        if turn is not None and e.depth == 0:
            turn.draft, turn.draft_node = "", e.node_id
            ch.new_drafts.add(e.turn)
            ch.drafts.pop(e.turn, None)

    def _on_model_delta(self, e: ModelDelta, ch: Changes) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None and turn.draft_node == e.node_id:
            turn.draft += e.text
            ch.drafts[e.turn] = ch.drafts.get(e.turn, "") + e.text

    def _on_model_finished(self, e: ModelFinished, ch: Changes) -> None:
        node = self.nodes.get(e.node_id)
        if node is None:
            return
        node.status = ("cancelled" if e.error == "cancelled" else "error") if e.error else "ok"
        node.duration, node.response, node.error = e.duration, e.text, e.error or ""
        node.tokens, node.cost = usage_tokens(e.usage), e.cost_usd
        node.estimated = bool(e.usage.get("estimated"))
        ch.nodes.add(node.id)
        self._count(e.turn, e.usage, e.cost_usd)
        turn = self.turns.get(e.turn)
        if turn is not None and turn.draft_node == e.node_id and e.text:
            # the complete reply: after this batch's deltas are appended, the widget makes one final
            # update only if the screen differs (a replay has no deltas; a stream may be mangled)
            turn.draft = e.text
            ch.drafts_done.add(e.turn)

    def _on_cell_started(self, e: CellStarted, ch: Changes) -> None:
        ch.new_cells.append(e.node_id)
        self._node(
            ch,
            Node(
                e.node_id, e.parent_id, "cell", f"cell {e.index}", depth=e.depth, started=e.t, prompt=e.code
            ),
        )

    def _on_cell_output(self, e: CellOutput, ch: Changes) -> None:
        if e.node_id in self.cells:
            ch.cells.add(e.node_id)

    def _on_cell_finished(self, e: CellFinished, ch: Changes) -> None:
        if e.node_id in self.cells:
            ch.cells.add(e.node_id)
        node = self.nodes.get(e.node_id)
        if node is not None:
            node.status, node.duration = e.status, e.duration
            node.response, node.error = e.output_for_model, e.error or ""
            ch.nodes.add(node.id)

    def _on_sub_call_started(self, e: SubCallStarted, ch: Changes) -> None:
        title = "rlm_query" if e.kind == "rlm" else "llm_query"
        self._node(
            ch,
            Node(
                e.node_id,
                e.parent_id,
                e.kind,
                title,
                depth=e.depth,
                model=e.model,
                started=e.t,
                prompt=e.prompt,
                cached=e.cached,
            ),
        )

    def _on_sub_call_finished(self, e: SubCallFinished, ch: Changes) -> None:
        node = self.nodes.get(e.node_id)
        if node is None:
            return
        node.status = (
            ("cancelled" if e.error == "cancelled" else "error")
            if e.error
            else ("cached" if e.cached else "ok")
        )
        node.duration, node.response, node.error = e.duration, e.response or "", e.error or ""
        node.tokens, node.cost, node.cached = usage_tokens(e.usage), e.cost_usd, e.cached
        node.estimated = bool(e.usage.get("estimated"))
        ch.nodes.add(node.id)
        if counts_as_a_call(e):  # a child RLM's calls were counted as they finished
            self._count(e.turn, e.usage, e.cost_usd)

    def _on_answer_ready(self, e: AnswerReady, ch: Changes) -> None:
        if e.turn in self.turns:
            ch.turns.add(e.turn)

    def _on_turn_finished(self, e: TurnFinished, ch: Changes) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None:
            ch.turns.add(e.turn)
        node = self.nodes.get(e.node_id)
        if node is not None:
            node.status = {"ok": "ok", "stopped": "stopped"}.get(e.status, e.status)
            node.duration, node.tokens = e.duration, usage_tokens(e.usage)
            node.estimated = bool((e.usage or {}).get("estimated"))
            node.cost = (e.usage or {}).get("cost_usd")
            node.cost_complete = bool((e.usage or {}).get("cost_complete", True))
            node.response = turn.answer or "" if turn else ""
            ch.nodes.add(node.id)
        for running in self.running_nodes():  # a cancelled or failed turn leaves nothing spinning
            if nodes.within(running.id, e.node_id):
                running.status = "cancelled" if e.status == "cancelled" else "interrupted"
                ch.nodes.add(running.id)
        self._live.pop(e.turn, None)
        if (e.usage or {}).get("estimated"):
            self.session_estimated = True
            self.estimated_turns.add(e.turn)
        self.session_tokens += usage_tokens(e.usage)
        cost = (e.usage or {}).get("cost_usd")
        if cost is None or not (e.usage or {}).get("cost_complete", True):
            self.session_cost_known = False
        self.session_cost += cost or 0.0

    def _on_notice(self, e: Notice, ch: Changes) -> None:
        node = self.nodes.get(e.node_id)
        if node is not None:
            node.notes.append(e.message)
            ch.nodes.add(node.id)
        if e.kind == "retry":
            turn = self.turns.get(e.turn)
            if turn is not None and turn.draft_node == e.node_id:
                turn.draft = ""  # the reply starts over
                ch.new_drafts.add(e.turn)
                ch.drafts.pop(e.turn, None)
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.notices.append(e.message)
        ch.notices.append((e.turn, e.message))

    def _on_compacted(self, e: Compacted, ch: Changes) -> None:
        span = ", ".join(str(i) for i in e.iterations)
        title = f"compacted iterations {span}"
        self._node(
            ch,
            Node(
                e.node_id,
                e.parent_id,
                "compaction",
                title,
                status="ok",
                started=e.t,
                tokens=e.tokens_after,
                response=e.summary.strip(),
                prompt=f"{e.tokens_before:,} → {e.tokens_after:,} tokens of a {e.window:,}-token window",
            ),
        )
        message = (
            f"↧ the prompt was compacted to fit the {e.window:,}-token window: iterations {span} "
            f"were replaced by a summary ({e.tokens_before:,} → {e.tokens_after:,} tokens)"
        )
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.notices.append(message)
        ch.notices.append((e.turn, message))
        ch.compactions.append((e.turn, message))

    def _on_error(self, e: Error, ch: Changes) -> None:
        if e.turn in self.turns:
            ch.turns.add(e.turn)

    _handlers: dict[type[Event], Callable[[ViewModel, Any, Changes], None]] = {
        TurnStarted: _on_turn_started,
        ModelStarted: _on_model_started,
        ModelDelta: _on_model_delta,
        ModelFinished: _on_model_finished,
        CellStarted: _on_cell_started,
        CellOutput: _on_cell_output,
        CellFinished: _on_cell_finished,
        SubCallStarted: _on_sub_call_started,
        SubCallFinished: _on_sub_call_finished,
        AnswerReady: _on_answer_ready,
        TurnFinished: _on_turn_finished,
        Notice: _on_notice,
        Error: _on_error,
        Compacted: _on_compacted,
    }
