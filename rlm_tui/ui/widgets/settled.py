"""A finished answer drawn as one widget.

Textual's ``Markdown`` widget mounts a widget per block (a short answer with a list and a code
block is a dozen), and every mounted widget is laid out again whenever the chat's width changes:
showing the side panes again (F4) or a resize. A turn that has ended no longer streams, so its
answer is drawn by Rich's Markdown inside a single ``Static``; the streaming reply of a running
turn keeps Textual's ``Markdown`` (it appends tokens without re-rendering the whole text).
"""

from __future__ import annotations

from rich.markdown import Markdown as RichMarkdown
from textual.widgets import Static


class SettledMarkdown(Static):
    """Markdown that no longer changes, rendered as one block; ``source`` is its text."""

    DEFAULT_CSS = """
    SettledMarkdown { height: auto; }
    """

    def __init__(self, source: str, *, code_theme: str = "monokai", classes: str | None = None) -> None:
        super().__init__(RichMarkdown(source, code_theme=code_theme, hyperlinks=False), classes=classes)
        self.source = source
