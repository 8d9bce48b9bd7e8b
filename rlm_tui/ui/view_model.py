"""What the screens show, kept up to date from events: turns, code cells and the call tree.

Pure Python (no Textual), so live turns, recorded sessions and converted trajectory logs all go
through the same ``apply`` and the widgets only draw what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rlm_tui.events import Event, usage_tokens, with_system_prompt

RUNNING = "running"


@dataclass
class Node:
    """One node of the call tree: a turn, a root-model iteration, a cell, or a sub-call."""

    id: str
    parent: str | None
    kind: str  # turn | iteration | cell | llm | rlm
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
    prompt: str = ""
    response: str = ""
    error: str = ""
    children: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Cell:
    node_id: str
    turn: int
    iteration: int
    index: int
    depth: int
    code: str
    chunks: list[tuple[str, str]] = field(default_factory=list)
    status: str = RUNNING
    duration: float | None = None
    error: str | None = None
    output_chars: int = 0
    dropped_chars: int = 0
    final: str | None = None
    started: float = 0.0

    @property
    def output(self) -> str:
        return "".join(text for _, text in self.chunks)


@dataclass
class Turn:
    number: int
    user: str
    started: float
    answer: str | None = None
    status: str = RUNNING
    stopped_by: str | None = None
    error: str | None = None
    duration: float | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    draft: str = ""  # the reply of the current root iteration, as it streams
    draft_node: str | None = None
    notices: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)


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
            )
        )


class ViewModel:
    def __init__(self) -> None:
        self.turns: dict[int, Turn] = {}
        self.cells: dict[str, Cell] = {}
        self.nodes: dict[str, Node] = {}
        self.roots: list[str] = []
        self.session_tokens = 0
        self.session_cost = 0.0
        self.session_cost_known = True
        self.models: tuple[str, str] = ("", "")  # root and sub-model of the latest recorded turn
        self._messages: dict[str, list[dict[str, str]]] = {}  # prompt so far, per RLM node
        self._running: set[str] = set()  # ids of nodes still running (kept, not searched for)
        self._system: dict[str, str] | None = None  # the system prompt, as last recorded
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

    def _count(self, turn: int, usage: dict[str, Any] | None, cost: float | None) -> None:
        if not usage:  # a call that failed or was cancelled: nothing to count, nothing unpriced
            return
        live = self._live.setdefault(turn, [0, 0.0, True])
        live[0] += usage_tokens(usage)
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
        handler = getattr(self, f"_on_{event.event_type}", None)
        if handler is not None:
            handler(event, changes)

    def _on_TurnStarted(self, e: Any, ch: Changes) -> None:
        self.turns[e.turn] = Turn(e.turn, e.user_message, e.t)
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

    def _on_ModelStarted(self, e: Any, ch: Changes) -> None:
        history = self._messages.setdefault(e.parent_id, [])
        history.extend(with_system_prompt(self._system, history, e.messages))
        if history and history[0]["role"] == "system":
            self._system = history[0]
        title = "best answer" if e.iteration == 0 else f"iteration {e.iteration}"
        prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in history)
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

    def _on_ModelDelta(self, e: Any, ch: Changes) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None and turn.draft_node == e.node_id:
            turn.draft += e.text
            ch.drafts[e.turn] = ch.drafts.get(e.turn, "") + e.text

    def _on_ModelFinished(self, e: Any, ch: Changes) -> None:
        node = self.nodes.get(e.node_id)
        if node is None:
            return
        node.status = ("cancelled" if e.error == "cancelled" else "error") if e.error else "ok"
        node.duration, node.response, node.error = e.duration, e.text, e.error or ""
        node.tokens, node.cost = usage_tokens(e.usage), e.cost_usd
        ch.nodes.add(node.id)
        self._count(e.turn, e.usage, e.cost_usd)
        turn = self.turns.get(e.turn)
        if turn is not None and turn.draft_node == e.node_id and e.text:
            # the complete reply: after this batch's deltas are appended, the widget makes one final
            # update only if the screen differs (a replay has no deltas; a stream may be mangled)
            turn.draft = e.text
            ch.drafts_done.add(e.turn)

    def _on_CellStarted(self, e: Any, ch: Changes) -> None:
        cell = Cell(e.node_id, e.turn, e.iteration, e.index, e.depth, e.code, started=e.t)
        self.cells[e.node_id] = cell
        ch.new_cells.append(e.node_id)
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.cells.append(e.node_id)
        self._node(
            ch,
            Node(
                e.node_id, e.parent_id, "cell", f"cell {e.index}", depth=e.depth, started=e.t, prompt=e.code
            ),
        )

    def _on_CellOutput(self, e: Any, ch: Changes) -> None:
        cell = self.cells.get(e.node_id)
        if cell is not None:
            cell.chunks.append((e.stream, e.text))
            ch.cells.add(e.node_id)

    def _on_CellFinished(self, e: Any, ch: Changes) -> None:
        cell = self.cells.get(e.node_id)
        if cell is not None:
            cell.status, cell.duration, cell.error = e.status, e.duration, e.error
            cell.output_chars, cell.dropped_chars, cell.final = e.output_chars, e.dropped_chars, e.final
            ch.cells.add(e.node_id)
        node = self.nodes.get(e.node_id)
        if node is not None:
            node.status, node.duration = e.status, e.duration
            node.response, node.error = e.output_for_model, e.error or ""
            ch.nodes.add(node.id)

    def _on_SubCallStarted(self, e: Any, ch: Changes) -> None:
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

    def _on_SubCallFinished(self, e: Any, ch: Changes) -> None:
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
        ch.nodes.add(node.id)
        if not node.children and not e.cached:  # a child RLM's calls were counted as they finished
            self._count(e.turn, e.usage, e.cost_usd)

    def _on_AnswerReady(self, e: Any, ch: Changes) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.answer, turn.stopped_by = e.answer, e.stopped_by
            ch.turns.add(e.turn)

    def _on_TurnFinished(self, e: Any, ch: Changes) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.status, turn.duration, turn.usage, turn.error = e.status, e.duration, e.usage, e.error
            turn.stopped_by = turn.stopped_by or e.stopped_by
            ch.turns.add(e.turn)
        node = self.nodes.get(e.node_id)
        if node is not None:
            node.status = {"ok": "ok", "stopped": "stopped"}.get(e.status, e.status)
            node.duration, node.tokens = e.duration, usage_tokens(e.usage)
            node.cost = (e.usage or {}).get("cost_usd")
            node.cost_complete = bool((e.usage or {}).get("cost_complete", True))
            node.response = turn.answer or "" if turn else ""
            ch.nodes.add(node.id)
        for running in self.running_nodes():  # a cancelled or failed turn leaves nothing spinning
            if running.id == e.node_id or running.id.startswith(e.node_id + "."):
                running.status = "cancelled" if e.status == "cancelled" else "interrupted"
                ch.nodes.add(running.id)
        self._live.pop(e.turn, None)
        self.session_tokens += usage_tokens(e.usage)
        cost = (e.usage or {}).get("cost_usd")
        if cost is None or not (e.usage or {}).get("cost_complete", True):
            self.session_cost_known = False
        self.session_cost += cost or 0.0

    def _on_Notice(self, e: Any, ch: Changes) -> None:
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

    def _on_Error(self, e: Any, ch: Changes) -> None:
        turn = self.turns.get(e.turn)
        if turn is not None:
            turn.error = e.message
            ch.turns.add(e.turn)
