"""What can be copied from the chat screen, from the keyboard: the last answer, any message, any
cell's code or output. The app hands the chosen text to the terminal (``copy_to_clipboard``,
OSC 52), which works over ssh and in tmux where a mouse selection across panes does not."""

from __future__ import annotations

from rlm_tui.ui.screens.picker import Entry
from rlm_tui.ui.view_model import ViewModel


def _preview(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def copy_entries(model: ViewModel, first_cell: str | None = None) -> tuple[list[Entry], dict[str, str]]:
    """The copy menu's entries (newest first; ``first_cell``'s code and output on top, the cell
    that has the focus) and the text each stands for, by entry value."""
    entries: list[Entry] = []
    texts: dict[str, str] = {}

    def add(key: str, label: str, text: str) -> None:
        if text:
            entries.append(Entry(key, label, f"{len(text):,} chars · {_preview(text)}"))
            texts[key] = text

    def add_cell(cell_id: str) -> None:
        cell = model.cells[cell_id]
        where = f"turn {cell.turn} · iteration {cell.iteration} · cell {cell.index}"
        add(f"{cell_id}:code", f"Code of {where}", cell.code)
        add(f"{cell_id}:output", f"Output of {where}", cell.output)

    if first_cell is not None and first_cell in model.cells:
        add_cell(first_cell)
    answered = [t for n, t in sorted(model.turns.items(), reverse=True) if t.answer]
    if answered:
        add("last-answer", f"Last answer (turn {answered[0].number})", answered[0].answer or "")
    for number in sorted(model.turns, reverse=True):
        turn = model.turns[number]
        add(f"t{number}:answer", f"Answer of turn {number}", turn.answer or "")
        add(f"t{number}:user", f"Your message of turn {number}", turn.user)
        for cell_id in reversed(turn.cells):
            if cell_id != first_cell:
                add_cell(cell_id)
    return entries, texts
