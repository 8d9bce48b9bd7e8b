"""What the call tree adds to its rows at scale, and its filters; pure Python over the view model.

- A sub-call's row shows the start of its prompt, so a fan-out of 100 calls can be told apart.
- A cell that made several sub-calls (``llm_query_batched``, a loop) gets a live line under its
  label: "37/100 done, 2 failed".
- Filters: failed calls only (with the nodes above them), and down to one depth of recursion.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlm_tui.ui.view_model import RUNNING, Node, ViewModel

PREVIEW = 40
FAILED = frozenset({"error", "failed", "crashed", "timeout"})
SUB_CALLS = frozenset({"llm", "rlm"})


def prompt_preview(node: Node, width: int = PREVIEW) -> str:
    """The start of a sub-call's prompt on one line, quoted (empty for other nodes)."""
    if node.kind not in SUB_CALLS or not node.prompt:
        return ""
    line = " ".join(node.prompt.split())
    return "“" + (line if len(line) <= width else line[: width - 1] + "…") + "”"


def batch_line(model: ViewModel, node: Node) -> str:
    """ "37/100 done, 2 failed" for a cell with several sub-calls (empty otherwise)."""
    if node.kind != "cell":
        return ""
    calls = [model.nodes[c] for c in node.children if c in model.nodes and model.nodes[c].kind in SUB_CALLS]
    if len(calls) < 2:
        return ""
    done = sum(c.status != RUNNING for c in calls)
    failed = sum(c.status in FAILED for c in calls)
    cancelled = sum(c.status == "cancelled" for c in calls)
    text = f"{done}/{len(calls)} done"
    if failed:
        text += f", {failed} failed"
    if cancelled:
        text += f", {cancelled} cancelled"
    return text


@dataclass(frozen=True)
class CallFilter:
    failed_only: bool = False
    max_depth: int | None = None  # sub-calls deeper than this (and their children) are hidden

    @property
    def active(self) -> bool:
        return self.failed_only or self.max_depth is not None

    def describe(self) -> str:
        parts = []
        if self.failed_only:
            parts.append("failed only")
        if self.max_depth is not None:
            parts.append(f"depth ≤ {self.max_depth}")
        return " · ".join(parts)

    def admits(self, node: Node) -> bool:
        """Whether a node can be shown by itself (failed-only also shows a failure's ancestors)."""
        if self.max_depth is not None and node.depth > self.max_depth:
            return False
        return not self.failed_only or node.status in FAILED

    def visible(self, model: ViewModel) -> list[str]:
        """The node ids to show, parents before children, in the model's order."""
        shown: set[str] = set()
        for node in model.nodes.values():
            if self.admits(node):
                current: Node | None = node
                while current is not None and current.id not in shown:
                    shown.add(current.id)
                    current = model.nodes.get(current.parent or "")
        order: list[str] = []
        stack = [r for r in reversed(model.roots) if r in shown]
        while stack:
            node_id = stack.pop()
            order.append(node_id)
            stack.extend(c for c in reversed(model.nodes[node_id].children) if c in shown)
        return order

    def next_depth(self, model: ViewModel) -> CallFilter:
        """All depths → 0 → 1 → … → the deepest present → all depths again."""
        deepest = max((n.depth for n in model.nodes.values()), default=0)
        if self.max_depth is None:
            depth: int | None = 0
        elif self.max_depth >= deepest:
            depth = None
        else:
            depth = self.max_depth + 1
        return CallFilter(self.failed_only, depth)
