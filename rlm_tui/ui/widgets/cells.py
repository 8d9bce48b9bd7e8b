"""The cells pane: every code cell of a turn, live.

Each cell has a header (iteration, depth, status, duration), its code highlighted by Pygments in
the theme's style, and its output as it streams, shown cut to head and tail with a marker; ``o``
opens the full captured text. Errors are drawn in the theme's error colour.
"""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Static

from rlm_tui.ui.uninterrupted import whole
from rlm_tui.ui.view_model import Cell

PAGE = 12  # cells of a turn drawn at first; "show earlier" adds this many more
CODE_LINES = 80  # of longer code the cell shows the start; the call tree's detail has all of it
SHOW_HEAD = 1500  # characters of output shown before the cut marker
SHOW_TAIL = 2500
STATUS_GLYPH = {"running": "…", "ok": "✓", "error": "✗", "timeout": "⏱", "interrupted": "⊘", "crashed": "☠"}


def cell_header(cell: Cell) -> str:
    where = f"iteration {cell.iteration} · cell {cell.index}" + (
        f" · depth {cell.depth}" if cell.depth else ""
    )
    status = "running" if cell.status == "running" else cell.status
    timing = f" · {cell.duration:.2f} s" if cell.duration is not None else ""
    return f"{STATUS_GLYPH.get(cell.status, '·')} {where} · {status}{timing}"


def render_output(cell: Cell, error_colour: str) -> Text:
    """Head and tail of the captured output, stderr in the error colour, with the cut marked."""
    total = sum(len(t) for _, t in cell.chunks)
    text = Text()
    if total == 0:
        return Text("(no output)" if cell.status != "running" else "", style="dim")
    keep_from_end = SHOW_TAIL if total > SHOW_HEAD + SHOW_TAIL else total
    head_budget = SHOW_HEAD if total > SHOW_HEAD + SHOW_TAIL else 0
    position = 0
    marker_done = head_budget == 0
    for stream, chunk in cell.chunks:
        style = error_colour if stream == "stderr" else ""
        start, end = position, position + len(chunk)
        position = end
        if start < head_budget:
            text.append(chunk[: head_budget - start], style=style)
        if not marker_done and end > head_budget:
            cut = total - head_budget - keep_from_end
            text.append(f"\n[… {cut:,} characters cut: press o to open the full output …]\n", style="bold")
            marker_done = True
        tail_start = total - keep_from_end
        if end > tail_start:
            text.append(chunk[max(0, tail_start - start) :], style=style)
    if cell.dropped_chars:
        text.append(f"\n[{cell.dropped_chars:,} more characters were not captured]", style="bold")
    return text


class CellWidget(Vertical, can_focus=True):
    BINDINGS = [Binding("o", "open_output", "Open output")]

    def __init__(self, cell: Cell, syntax: str) -> None:
        super().__init__(classes="code-cell")
        self.cell = cell
        self.syntax = syntax

    def compose(self) -> ComposeResult:
        yield Static(cell_header(self.cell), classes="code-cell-header", markup=False)
        yield Static(self._code(), classes="code-cell-code")
        yield Static(classes="code-cell-output")

    def on_mount(self) -> None:
        self.refresh_cell()

    def _code(self) -> Syntax:
        lines = self.cell.code.rstrip().splitlines()
        code = "\n".join(lines[:CODE_LINES])
        if len(lines) > CODE_LINES:
            code += (
                f"\n# … {len(lines) - CODE_LINES} more lines (Enter on the cell in the call tree shows all)"
            )
        return Syntax(
            code,
            "python",
            theme=self.syntax,
            line_numbers=True,
            word_wrap=True,
            background_color="default",
        )

    def refresh_cell(self) -> None:
        cell = self.cell
        self.query_one(".code-cell-header", Static).update(cell_header(cell))
        for status in STATUS_GLYPH:
            self.set_class(cell.status == status, f"-{status}")
        error = self.app.current_theme.error if self.app.current_theme else "red"
        self.query_one(".code-cell-output", Static).update(render_output(cell, error or "red"))

    def set_syntax(self, syntax: str) -> None:
        self.syntax = syntax
        self.query_one(".code-cell-code", Static).update(self._code())
        self.refresh_cell()

    class OpenOutput(Message):
        """The user asked for a cell's full output (the screen shows it)."""

        def __init__(self, cell: Cell) -> None:
            super().__init__()
            self.cell = cell

    def action_open_output(self) -> None:
        self.post_message(self.OpenOutput(self.cell))


class CellsView(VerticalScroll):
    """The cells of one turn (the latest, or the one selected in the tree)."""

    ALLOW_MAXIMIZE = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.widgets: dict[str, CellWidget] = {}
        self.turn: int | None = None
        self.syntax = "monokai"
        self._earlier: list[Cell] = []

    async def show_turn(self, turn: int, cells: list[Cell]) -> None:
        """A turn's cells; of a turn with very many (a big trajectory log), the last PAGE first."""
        self.turn = turn
        self.widgets.clear()
        self._earlier = cells[:-PAGE] if len(cells) > PAGE else []
        await whole(self.remove_children())
        if self._earlier:
            await self.mount(
                Button(f"Show {min(PAGE, len(self._earlier))} earlier cells", id="earlier-cells")
            )
        await self.add_cells(cells[-PAGE:])

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "earlier-cells":
            return
        event.stop()
        batch, self._earlier = self._earlier[-PAGE:], self._earlier[:-PAGE]
        new = [CellWidget(cell, self.syntax) for cell in batch]
        for widget in new:
            self.widgets[widget.cell.node_id] = widget
        await self.mount_all(new, after=event.button)
        if self._earlier:
            event.button.label = f"Show {min(PAGE, len(self._earlier))} earlier cells"
            await self.move_child(event.button, before=0)
        else:
            await event.button.remove()

    async def add_cells(self, cells: list[Cell]) -> None:
        new = []
        for cell in cells:
            if cell.node_id not in self.widgets:
                widget = CellWidget(cell, self.syntax)
                self.widgets[cell.node_id] = widget
                new.append(widget)
        if new:
            following = self.scroll_y >= self.max_scroll_y - 1
            await self.mount_all(new)
            if following:  # follow new cells only while the user is at the bottom
                self.call_after_refresh(self.scroll_end, animate=False)

    async def add_note(self, text: str) -> None:
        """A line between cells: something that happened to the turn's prompt (a compaction)."""
        await self.mount(Static(text, classes="cells-note", markup=False))

    def refresh_cells(self, node_ids: set[str]) -> None:
        for node_id in node_ids:
            widget = self.widgets.get(node_id)
            if widget is not None and widget.is_mounted:
                widget.refresh_cell()

    def set_syntax(self, syntax: str) -> None:
        self.syntax = syntax
        for widget in self.widgets.values():
            widget.set_syntax(syntax)
