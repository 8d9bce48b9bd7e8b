"""The tree of every call of the session: turn -> iterations -> cells -> sub-calls -> child RLMs.

Nodes update live from the view model: a spinner while running, then status, model, tokens, cost
and duration; cache hits are marked. Collapsible at every level; Enter opens a node's detail.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from rlm_tui.services import formatting
from rlm_tui.ui.call_rows import CallFilter, batch_line, prompt_preview
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
    return formatting.tokens(tokens, estimated)


def node_label(node: Node, frame: int, colours: dict[str, str], after_title: str = "") -> Text:
    glyph = SPINNER[frame % len(SPINNER)] if node.status == RUNNING else GLYPHS.get(node.status, "·")
    style = (
        colours.get(STATUS_STYLE.get(node.status, ""), "")
        if node.status != RUNNING
        else colours.get("primary", "")
    )
    label = Text()
    label.append(glyph + " ", style=style)
    label.append(node.title, style="bold" if node.kind == "turn" else "")
    if after_title:  # a sub-call's prompt start, a fan-out's progress: before the details that vary
        label.append(f" {after_title}", style="italic")
    details = []
    if node.kind in ("iteration", "llm", "rlm") and node.model:
        details.append(short_model(node.model))
    if node.cached:
        details.append("cache hit")
    if node.tokens:
        details.append(tokens_text(node.tokens, node.estimated))
    if node.kind != "cell" and node.status != RUNNING:
        if node.cost is None:
            if node.tokens:  # a call with usage but no price; a log without usage says nothing
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
        Binding("f", "filter_failed", "Failed only", show=False),
        Binding("d", "filter_depth", "Depth", show=False),
    ]

    def __init__(self, model: ViewModel, **kwargs) -> None:
        super().__init__("calls", **kwargs)
        self.model = model
        self.show_root = False
        self.guide_depth = 2
        self.frame = 0
        self.tree_nodes: dict[str, TreeNode[str]] = {}
        self.filter = CallFilter()
        self._refilter_pending = False
        self._rebuilding = False  # drawing the filter's nodes, the ancestors of its matches included
        # The tree keeps the newest running node in view, until the user moves in it (a key or
        # the mouse); a new turn starts following again.
        self.following = True
        self._target: str | None = None
        self._follow_pending = False

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
            if self.filter.active and not self._rebuilding and not self.filter.admits(node):
                continue  # hidden by the filter (a failure appears when it fails: refresh_nodes)
            parent = self.tree_nodes.get(node.parent or "", self.root)
            if node.kind == "turn" and expand_new and self.root.children:
                self.root.children[-1].collapse()  # a new live turn: the previous one folds away
            if parent is not self.root and not parent.allow_expand:
                parent.allow_expand = True  # a node gets its first child
                if expand_new:
                    parent.expand()
            label = self._label(node, colours)
            if node.status == RUNNING:
                self._target = node_id
            if node.kind == "turn" and expand_new:
                self.following = True
            if node.kind == "turn":
                tree_node = parent.add(label, data=node_id, expand=expand_new)
            else:  # expandable once it has children (see above)
                tree_node = parent.add_leaf(label, data=node_id)
            self.tree_nodes[node_id] = tree_node
        self.follow()

    def follow(self) -> None:
        """Scroll the running node into view (after the next refresh, when its line is known)."""
        if self.following and self._target is not None and not self._follow_pending:
            self._follow_pending = True
            self.call_after_refresh(self._scroll_to_target)

    def _scroll_to_target(self) -> None:
        self._follow_pending = False
        node = self.tree_nodes.get(self._target or "")
        if not self.following or node is None:
            return
        model_node = self.model.nodes.get(self._target or "")
        if model_node is not None and model_node.status != RUNNING:  # done: its running parent
            running = [n for n in self.model.running_nodes() if n.id in self.tree_nodes]
            if running:
                node = self.tree_nodes[max(running, key=lambda n: n.started).id]
        self._tree_lines  # noqa: B018 - lays the tree out, so the node's line is known
        if node.line >= 0:
            self.scroll_to_line(node.line, animate=False)

    NAVIGATION_KEYS = frozenset(
        {"up", "down", "pageup", "pagedown", "home", "end", "left", "right", "shift+left", "shift+right"}
    )

    def on_key(self, event: events.Key) -> None:
        if event.key in self.NAVIGATION_KEYS:
            self.following = False

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.following = False

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.following = False

    def on_click(self, event: events.Click) -> None:
        self.following = False

    def _label(self, node: Node, colours: dict[str, str]) -> Text:
        """The node's label, with a sub-call's prompt start and a fan-out's progress."""
        return node_label(node, self.frame, colours, prompt_preview(node) or batch_line(self.model, node))

    def refresh_nodes(self, node_ids: set[str]) -> None:
        colours = self._colours()
        node_ids = set(node_ids)
        for node_id in list(node_ids):  # a finished sub-call moves its cell's "n/N done" line
            node = self.model.nodes.get(node_id)
            if node is not None and node.kind in ("llm", "rlm") and node.parent:
                node_ids.add(node.parent)
            if (
                node is not None
                and self.filter.failed_only
                and node_id not in self.tree_nodes
                and self.filter.admits(node)
            ):
                self._refilter_soon()  # a new failure: shown with the nodes above it
        for node_id in node_ids:
            tree_node = self.tree_nodes.get(node_id)
            node = self.model.nodes.get(node_id)
            if tree_node is not None and node is not None:
                tree_node.set_label(self._label(node, colours))

    def tick(self) -> None:
        """Advance the spinner of running nodes (and only those)."""
        self.frame += 1
        running = {n.id for n in self.model.running_nodes()}
        if running:
            self.refresh_nodes(running)

    def clear_all(self) -> None:
        self.clear()
        self.tree_nodes.clear()
        self.following, self._target = True, None

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
        self.follow()  # the running node may have moved far down

    def action_collapse_all(self) -> None:
        for child in self.root.children:
            child.collapse_all()

    # -- filters ---------------------------------------------------------------------------

    def action_filter_failed(self) -> None:
        """f: failed calls only (and what led to them), or everything again."""
        self.set_filter(CallFilter(not self.filter.failed_only, self.filter.max_depth))

    def action_filter_depth(self) -> None:
        """d: down to depth 0, 1, … of recursion, then every depth again."""
        self.set_filter(self.filter.next_depth(self.model))

    def set_filter(self, call_filter: CallFilter) -> None:
        self.filter = call_filter
        self.border_subtitle = call_filter.describe() + (" · f / d change it" if call_filter.active else "")
        self._rebuild()

    def _refilter_soon(self) -> None:
        if not self._refilter_pending:
            self._refilter_pending = True
            self.call_after_refresh(self._rebuild)

    def _rebuild(self) -> None:
        """Draw the tree again with the filter's nodes (all of them when no filter is on)."""
        self._refilter_pending = False
        following, target = self.following, self._target
        self.clear()
        self.tree_nodes.clear()
        if self.filter.active:
            self._rebuilding = True
            try:
                self.add_nodes(self.filter.visible(self.model), expand_new=False)
            finally:
                self._rebuilding = False
            self.root.expand_all()
        elif self.model.roots:  # every turn, the latest one open (others fill in when expanded)
            order, stack = (
                list(self.model.roots),
                list(reversed(self.model.nodes[self.model.roots[-1]].children)),
            )
            while stack:
                node_id = stack.pop()
                order.append(node_id)
                stack.extend(reversed(self.model.nodes[node_id].children))
            self.add_nodes(order, expand_new=False)
            self.tree_nodes[self.model.roots[-1]].expand_all()
        self.following, self._target = following, target
