"""The search bar under the chat (Ctrl+F): typing goes to the newest match; Enter or Up goes
to the one before (further back, as in a terminal's scrollback search), Shift+Enter or Down to the
one after; Esc closes. The screen moves to each match."""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Static


class SearchBar(Horizontal):
    DEFAULT_CSS = """
    SearchBar { height: auto; display: none; padding: 0 1; }
    SearchBar Input { width: 1fr; }
    SearchBar #search-count { width: auto; min-width: 14; padding: 1 1 0 1; color: $text-muted; }
    .-search-hit { outline: tall $warning; }
    """
    SCOPED_CSS = False  # the match's outline is drawn on message and cell widgets

    class Moved(Message):
        """Go ``step`` matches back (negative: forward) from the current one; 0: a new query."""

        def __init__(self, query: str, step: int) -> None:
            super().__init__()
            self.query = query
            self.step = step

    class Closed(Message):
        pass

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="Search the chat and its cells · Enter/Up: earlier · Down: later · Esc", id="search"
        )
        yield Static("", id="search-count", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    def open(self) -> None:
        self.display = True
        self.input.focus()
        self.input.select_all()

    def say(self, text: str) -> None:
        self.query_one("#search-count", Static).update(text)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Moved(event.value, 0))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Moved(event.value, 1))

    def on_key(self, event: events.Key) -> None:
        step = {"up": 1, "down": -1, "shift+enter": -1}.get(event.key)
        if step is not None:
            event.stop()
            event.prevent_default()
            self.post_message(self.Moved(self.input.value, step))
        elif event.key == "escape":
            event.stop()
            event.prevent_default()
            self.display = False
            self.post_message(self.Closed())
