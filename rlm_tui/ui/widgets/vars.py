"""The /vars table in the chat: name, type and size always whole, the preview taking what is left.

The REPL sends the table as Markdown (the same text the model reads). Drawn as Markdown, the
long previews squeezed the other columns to "…"; here the short columns get the width they need
and only the preview is cut.
"""

from __future__ import annotations

import re

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def parse_table(markdown: str) -> tuple[list[list[str]], list[str]]:
    """(rows of [name, type, size, preview], other lines) of the REPL's Markdown variable table."""
    rows: list[list[str]] = []
    notes: list[str] = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|"):
            if stripped:
                notes.append(stripped)
            continue
        cells = [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(stripped.strip("|"))]
        if all(set(c) <= {"-", ":"} for c in cells) or cells[:1] == ["name"]:
            continue  # the header and its rule
        rows.append([*cells, "", "", "", ""][:4])
    return rows, notes


class VarsTable(Static):
    """The REPL's variables, one row each."""

    def __init__(self, markdown: str) -> None:
        super().__init__(classes="vars")
        self.rows, self.notes = parse_table(markdown)

    def render(self) -> Table | Text:
        if not self.rows:
            return Text("\n".join(self.notes) or "(no variables yet)", style="dim")
        # Column widths by hand: rich would shrink every no-wrap column alike to fit the preview.
        name_w, type_w, size_w = (
            max(len(r[i]) for r in [*self.rows, ["name", "type", "size"]]) for i in range(3)
        )
        width = self.content_size.width or 80
        name_w = min(name_w, max(12, width - type_w - size_w - 4))
        preview_w = width - name_w - type_w - size_w - 6  # three gaps of two
        table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_edge=False, header_style="bold")
        table.add_column("name", no_wrap=True, width=name_w, overflow="ellipsis")
        table.add_column("type", no_wrap=True, width=type_w, style="dim")
        table.add_column("size", no_wrap=True, width=size_w, justify="right")
        if preview_w >= 8:  # too narrow for any preview: the three facts, whole
            table.add_column("preview", no_wrap=True, width=preview_w, overflow="ellipsis")
        for name, type_, size, preview in self.rows:
            cells = [Text(name), Text(type_), Text(size)]
            table.add_row(*cells, *([Text(preview)] if preview_w >= 8 else []))
        if self.notes:
            table.caption = " ".join(self.notes)
        return table

    def on_resize(self) -> None:
        self.refresh()
