"""Search within the conversation: which messages, answers and cells hold a text.

Pure Python over the view model (no Textual), in reading order: a turn's message, then its cells
(code before output), then its answer. A block that holds the text is one match however often.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlm_tui.ui.view_model import ViewModel


@dataclass(frozen=True)
class Match:
    turn: int
    kind: str  # user | answer | code | output
    cell: str | None = None  # the cell's node id, for code and output

    def describe(self, model: ViewModel) -> str:
        if self.cell is None:
            return f"turn {self.turn} · {'your message' if self.kind == 'user' else 'answer'}"
        cell = model.cells[self.cell]
        return f"turn {self.turn} · cell {cell.iteration}.{cell.index} · {self.kind}"


def find(model: ViewModel, query: str) -> list[Match]:
    """Every block holding ``query`` (case-insensitive; an empty query finds nothing)."""
    needle = query.strip().lower()
    if not needle:
        return []
    found: list[Match] = []
    for number in sorted(model.turns):
        turn = model.turns[number]
        if needle in turn.user.lower():
            found.append(Match(number, "user"))
        for cell_id in turn.cells:
            cell = model.cells.get(cell_id)
            if cell is None:
                continue
            if needle in cell.code.lower():
                found.append(Match(number, "code", cell_id))
            if needle in cell.output.lower():
                found.append(Match(number, "output", cell_id))
        if turn.answer and needle in turn.answer.lower():
            found.append(Match(number, "answer"))
    return found
