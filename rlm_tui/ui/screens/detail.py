"""Detail of one tree node (full prompt and response, copyable) and a cell's full output."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Log, Static, TextArea

from rlm_tui.ui.view_model import Cell, Node
from rlm_tui.ui.widgets.calltree import short_model, tokens_text

SCREEN_CHARS = 200_000  # more than this of a prompt is cut for the screen; `c` copies all of it


def _cut(text: str) -> str:
    if len(text) <= SCREEN_CHARS:
        return text
    half = SCREEN_CHARS // 2
    return f"{text[:half]}\n\n[… {len(text) - SCREEN_CHARS:,} characters cut for the screen; c copies all …]\n\n{text[-half:]}"


def describe(node: Node) -> str:
    facts = [node.kind, node.status]
    if node.model:
        facts.append(short_model(node.model))
    if node.depth:
        facts.append(f"depth {node.depth}")
    if node.tokens:
        facts.append(tokens_text(node.tokens))
    if node.cost is None:
        facts.append("cost unknown")
    elif node.cost:
        facts.append(f"${node.cost:.4f}")
    if node.duration is not None:
        facts.append(f"{node.duration:.2f} s")
    if node.cached:
        facts.append("cache hit")
    return f"{node.title}  ·  " + " · ".join(facts) + f"\n{node.id}"


class NodeDetailScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("c", "copy_all", "Copy all"),
        Binding("p", "copy_prompt", "Copy prompt"),
        Binding("r", "copy_response", "Copy response"),
    ]

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node

    def compose(self) -> ComposeResult:
        node = self.node
        with Vertical(classes="dialog detail"):
            yield Static(describe(node), classes="title", markup=False)
            if node.notes:
                yield Static("\n".join(node.notes), classes="notes", markup=False)
            prompt_label = {"cell": "Code", "turn": "User message"}.get(node.kind, "Prompt")
            response_label = {"cell": "Output (as the model saw it)", "turn": "Answer"}.get(
                node.kind, "Response"
            )
            yield Static(prompt_label, classes="section")
            yield TextArea(_cut(node.prompt), read_only=True, soft_wrap=True, classes="prompt")
            yield Static(
                response_label + (f"  ·  error: {node.error}" if node.error else ""),
                classes="section",
                markup=False,
            )
            yield TextArea(_cut(node.response), read_only=True, soft_wrap=True, classes="response")
        yield Footer()

    def _copy(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied the {what} ({len(text):,} characters)")

    def action_copy_all(self) -> None:
        self._copy(f"{describe(self.node)}\n\n{self.node.prompt}\n\n{self.node.response}", "whole node")

    def action_copy_prompt(self) -> None:
        self._copy(self.node.prompt, "prompt")

    def action_copy_response(self) -> None:
        self._copy(self.node.response, "response")


class OutputScreen(ModalScreen[None]):
    """A cell's whole captured output (up to the capture cap), in a line log that copes with megabytes."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close"), Binding("c", "copy", "Copy all")]

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        self.cell = cell

    def compose(self) -> ComposeResult:
        cell = self.cell
        with Vertical(classes="dialog output"):
            total = f"{cell.output_chars or len(cell.output):,} characters"
            dropped = f", {cell.dropped_chars:,} more not captured" if cell.dropped_chars else ""
            yield Static(
                f"Output of iteration {cell.iteration} · cell {cell.index} · {total}{dropped}",
                classes="title",
            )
            yield Log(highlight=False, auto_scroll=False)
        yield Footer()

    def on_mount(self) -> None:
        log = self.query_one(Log)
        log.write(self.cell.output or "(no output)")
        log.scroll_home(animate=False)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.cell.output)
        self.notify(f"Copied {len(self.cell.output):,} characters")
