"""The tree of every call of the session: turn -> iterations -> cells -> sub-calls -> child RLMs.

Nodes update live from the view model: a spinner while running, then status, model, tokens, cost
and duration; cache hits are marked. Collapsible at every level; Enter opens a node's detail.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from rlm_tui.ui.view_model import RUNNING, Node, ViewModel

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
GLYPHS = {
    "ok": "✓",
    "error": "✗",
    "cached": "⚡",
    "cancelled": "⊘",
    "interrupted": "⊘",
    "timeout": "⏱",
    "crashed": "☠",
    "stopped": "■",
    "failed": "✗",
}
STATUS_STYLE = {
    "ok": "success",
    "cached": "accent",
    "error": "error",
    "failed": "error",
    "crashed": "error",
    "timeout": "warning",
    "stopped": "warning",
    "cancelled": "warning",
    "interrupted": "warning",
}


def short_model(model: str) -> str:
    return model.split("/", 1)[-1] if model else ""


def tokens_text(tokens: int, estimated: bool = False) -> str:
    """A token count; "~" marks one counted by us because the provider reported none."""
    mark = "~" if estimated else ""
    return f"{mark}{tokens / 1000:.1f}k tok" if tokens >= 1000 else f"{mark}{tokens} tok"


def node_label(node: Node, frame: int, colours: dict[str, str]) -> Text:
    glyph = SPINNER[frame % len(SPINNER)] if node.status == RUNNING else GLYPHS.get(node.status, "·")
    style = (
        colours.get(STATUS_STYLE.get(node.status, ""), "")
        if node.status != RUNNING
        else colours.get("primary", "")
    )
    label = Text()
    label.append(glyph + " ", style=style)
    label.append(node.title, style="bold" if node.kind == "turn" else "")
    details = []
    if node.kind in ("iteration", "llm", "rlm") and node.model:
        details.append(short_model(node.model))
    if node.cached:
        details.append("cache hit")
    if node.tokens:
        details.append(tokens_text(node.tokens, node.estimated))
    if node.kind != "cell" and node.status != RUNNING:
        if node.cost is None:
            details.append("$?")
        elif node.cost or not node.cost_complete:
            details.append(f"${node.cost:.4f}" + ("" if node.cost_complete else "+?"))
    if node.duration is not None:
        details.append(f"{node.duration:.1f}s")
    if node.status not in (RUNNING, "ok", "cached"):
        details.append(node.status)
    if node.notes and node.status == RUNNING:
        details.append(node.notes[-1][:60])
    if details:
        label.append(" · " + " · ".join(details), style="dim")
    return label


class CallTree(Tree[str]):
    BINDINGS = [
        Binding("enter", "open_detail", "Detail", show=True),
        Binding("space", "toggle_node", "Expand/collapse", show=False),
        Binding("E", "expand_all", "Expand all", show=False),
        Binding("C", "collapse_all", "Collapse all", show=False),
    ]

    def __init__(self, model: ViewModel, **kwargs) -> None:
        super().__init__("calls", **kwargs)
        self.model = model
        self.show_root = False
        self.guide_depth = 2
        self.frame = 0
        self.tree_nodes: dict[str, TreeNode[str]] = {}

    def _colours(self) -> dict[str, str]:
        theme = self.app.current_theme
        if theme is None:
            return {}
        return {k: getattr(theme, k) or "" for k in ("primary", "success", "error", "warning", "accent")}

    def add_nodes(self, node_ids: list[str], *, expand_new: bool = True) -> None:
        colours = self._colours()
        for node_id in node_ids:
            node = self.model.nodes.get(node_id)
            if node is None or node_id in self.tree_nodes:
                continue
            parent = self.tree_nodes.get(node.parent or "", self.root)
            if node.kind == "turn" and expand_new and self.root.children:
                self.root.children[-1].collapse()  # a new live turn: the previous one folds away
            if parent is not self.root and not parent.allow_expand:
                parent.allow_expand = True  # a node gets its first child
                if expand_new:
                    parent.expand()
            label = node_label(node, self.frame, colours)
            if node.kind == "turn":
                tree_node = parent.add(label, data=node_id, expand=expand_new)
            else:  # expandable once it has children (see above)
                tree_node = parent.add_leaf(label, data=node_id)
            self.tree_nodes[node_id] = tree_node

    def refresh_nodes(self, node_ids: set[str]) -> None:
        colours = self._colours()
        for node_id in node_ids:
            tree_node = self.tree_nodes.get(node_id)
            node = self.model.nodes.get(node_id)
            if tree_node is not None and node is not None:
                tree_node.set_label(node_label(node, self.frame, colours))

    def tick(self) -> None:
        """Advance the spinner of running nodes (and only those)."""
        self.frame += 1
        running = {n.id for n in self.model.running_nodes()}
        if running:
            self.refresh_nodes(running)

    def clear_all(self) -> None:
        self.clear()
        self.tree_nodes.clear()

    class OpenDetail(Message):
        """The user asked for a node's full prompt and response (the screen shows them)."""

        def __init__(self, node: Node) -> None:
            super().__init__()
            self.node = node

    def action_open_detail(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        model_node = self.model.nodes.get(node.data)
        if model_node is not None:
            self.post_message(self.OpenDetail(model_node))

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        """A click on a node with nothing to fold (a sub-call, a cell) opens its detail."""
        if not event.node.allow_expand:
            self.action_open_detail()

    def action_expand_all(self) -> None:
        self.root.expand_all()

    def action_collapse_all(self) -> None:
        for child in self.root.children:
            child.collapse_all()
