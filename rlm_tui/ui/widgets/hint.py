"""A line saying what a pane will show, shown while the pane is still empty (a first launch)."""

from __future__ import annotations

from textual.widgets import Static


class EmptyHint(Static):
    DEFAULT_CSS = """
    EmptyHint { height: auto; padding: 0 1; color: $text-muted; text-style: italic; }
    """

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(text, markup=False, classes="empty-hint", **kwargs)
