"""A finished answer drawn as one widget, its lines kept per width.

Textual's ``Markdown`` widget mounts a widget per block (a short answer with a list and a code
block is a dozen), and every mounted widget is laid out again whenever the chat's width changes:
showing or hiding the side panes (F4), a resize. A turn that has ended no longer streams, so its
answer is rendered by Rich's Markdown into lines, once per width: F4 flips between two widths,
and the second time each costs a dictionary lookup instead of re-highlighting every code block.
The streaming reply of a running turn keeps Textual's ``Markdown`` (it appends tokens cheaply).
"""

from __future__ import annotations

from rich.markdown import Markdown as RichMarkdown
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

KEPT_WIDTHS = 4  # widths whose lines are kept (the chat's width with and without side panes)


class SettledMarkdown(Widget):
    """Markdown that no longer changes; ``source`` is its text."""

    DEFAULT_CSS = """
    SettledMarkdown { height: auto; }
    """

    def __init__(self, source: str, *, code_theme: str = "monokai", classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.source = source
        self._markdown = RichMarkdown(source, code_theme=code_theme, hyperlinks=False)
        self._lines: dict[tuple[int, str, str], list[Strip]] = {}

    def set_code_theme(self, code_theme: str) -> None:
        """Another theme picked: code blocks are highlighted in its syntax style."""
        if code_theme != self._markdown.code_theme:
            self._markdown = RichMarkdown(self.source, code_theme=code_theme, hyperlinks=False)
            self._lines.clear()
            self.refresh()

    def _strips(self, width: int) -> list[Strip]:
        style = self.rich_style
        key = (width, self.app.theme, str(style))  # a new theme or style draws it again
        strips = self._lines.get(key)
        if strips is None:
            if len(self._lines) >= KEPT_WIDTHS:
                self._lines.clear()
            console = self.app.console
            lines = console.render_lines(
                self._markdown, console.options.update(width=width, height=None), style=style, pad=True
            )
            # Each cell carries its (column, row), as Textual's own text does: a mouse selection
            # over the answer maps back to the text under it (``get_selection``).
            strips = self._lines[key] = [
                Strip(line, width).apply_offsets(0, y) for y, line in enumerate(lines)
            ]
        return strips

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The text under a mouse selection, as drawn (wrapped lines, bullets and all)."""
        lines = self._strips(self.content_size.width or self.size.width or 80)
        return selection.extract("\n".join(strip.text.rstrip() for strip in lines)), "\n"

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._strips(width))

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        strips = self._strips(width)
        if y >= len(strips):
            return Strip.blank(width, self.rich_style)
        strip = strips[y]
        selection = self.text_selection
        span = selection.get_span(y) if selection is not None else None
        if span is None:
            return strip
        start, end = span
        end = width if end == -1 else min(end, width)
        if start >= end:
            return strip
        before, chosen, after = strip.divide([start, end, width])
        over = Style(bgcolor=self.selection_style.bgcolor)  # on top of the text's own background
        chosen = Strip(
            [Segment(text, (style or Style()) + over, c) for text, style, c in chosen], chosen.cell_length
        )
        return Strip.join([before, chosen, after])
