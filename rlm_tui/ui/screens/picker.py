"""A list to pick one entry from, filtered as you type: the copy menu and the model picker.

The filter box keeps the focus; Up and Down move the highlight, Enter picks, Esc closes. Entries
can arrive after the screen opens (``set_entries``), for lists loaded off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

MAX_SHOWN = 200  # of a long list (every model litellm knows), the first matches shown


@dataclass(frozen=True)
class Entry:
    value: str  # what picking it returns
    label: str  # what the list shows (plain text, never markup)
    note: str = ""  # shown dim after the label


class PickerScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Close")]
    DEFAULT_CSS = """
    PickerScreen .dialog.picker { width: 90%; max-width: 110; height: auto; max-height: 90%; }
    PickerScreen #picker-list { height: auto; max-height: 24; }
    """

    def __init__(self, title: str, entries: list[Entry], *, placeholder: str = "type to filter") -> None:
        super().__init__()
        self.title_text = title
        self.entries = list(entries)
        self.placeholder = placeholder
        self.picked_free_text = False  # Enter on a filter that matches nothing returns the filter
        self.note = ""  # under the list: how it was made, or that it is still loading

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker"):
            yield Static(self.title_text, classes="title", markup=False)
            yield Input(placeholder=self.placeholder, id="picker-filter")
            yield OptionList(id="picker-list")
            yield Static(self.note, id="picker-note", classes="dim", markup=False)

    def on_mount(self) -> None:
        self.query_one("#picker-note", Static).update(self.note)  # set between compose and mount
        self._show()
        self.query_one(Input).focus()

    def set_entries(self, entries: list[Entry], note: str = "") -> None:
        self.entries = list(entries)
        self.note = note
        for shown in self.query("#picker-note"):  # none before compose, nor once dismissed
            shown.update(note)
            self._show()

    def matching(self, text: str) -> list[Entry]:
        words = text.lower().split()
        return [e for e in self.entries if all(w in f"{e.label} {e.note}".lower() for w in words)]

    def _show(self) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        shown = self.matching(self.query_one(Input).value)[:MAX_SHOWN]
        for index, entry in enumerate(shown):
            label = Text(entry.label)
            if entry.note:
                label.append(f"  {entry.note}", style="dim")
            options.add_option(Option(label, id=str(index)))
        self._shown = shown
        options.highlighted = 0 if shown else None

    @on(Input.Changed)
    def _filter(self) -> None:
        self._show()

    async def on_key(self, event: events.Key) -> None:
        if event.key in ("up", "down", "pageup", "pagedown"):
            event.stop()
            event.prevent_default()
            options = self.query_one(OptionList)
            action = {"up": "cursor_up", "down": "cursor_down", "pageup": "page_up", "pagedown": "page_down"}
            await options.run_action(action[event.key])

    @on(Input.Submitted)
    def _picked(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is not None and index < len(self._shown):
            self.dismiss(self._shown[index].value)
        elif self.picked_free_text and self.query_one(Input).value.strip():
            self.dismiss(self.query_one(Input).value.strip())

    @on(OptionList.OptionSelected)
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._shown[event.option_index].value)

    def action_cancel(self) -> None:
        self.dismiss(None)
