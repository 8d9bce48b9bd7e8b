"""The message editor: multi-line, Enter sends, Shift+Enter or Ctrl+J adds a line; slash commands
and ``@path`` complete with Tab from a list shown above the editor."""

from __future__ import annotations

import os
from pathlib import Path

from textual import events
from textual.message import Message
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

from rlm_tui.ui import commands

MAX_CHOICES = 12


def _path_choices(partial: str) -> list[str]:
    expanded = os.path.expanduser(partial)
    folder, prefix = os.path.split(expanded)
    base = Path(folder or ".")
    try:
        entries = sorted(base.iterdir(), key=lambda p: p.name)
    except OSError:
        return []
    shown_folder = partial[: len(partial) - len(prefix)]
    out = []
    for entry in entries:
        if not entry.name.startswith(prefix) or (entry.name.startswith(".") and not prefix.startswith(".")):
            continue
        out.append(shown_folder + entry.name + ("/" if entry.is_dir() else ""))
        if len(out) >= MAX_CHOICES:
            break
    return out


def completions(before_cursor: str, themes: list[str] | None = None) -> tuple[int, list[tuple[str, str]]]:
    """(where the completed word starts, [(replacement, description)]) for the text before the cursor."""
    line = before_cursor.rsplit("\n", 1)[-1]
    line_start = len(before_cursor) - len(line)
    if line.startswith("/") and " " not in line and "\n" not in before_cursor:
        return line_start, commands.completions(line)
    if line.startswith("/load ") and " as " not in line:
        partial = line[len("/load ") :]
        return line_start + len("/load "), [(p, "") for p in _path_choices(partial)]
    if line.startswith("/theme ") and themes:
        partial = line[len("/theme ") :]
        return line_start + len("/theme "), [(t, "") for t in themes if t.startswith(partial)]
    word = line.rsplit(" ", 1)[-1]
    if word.startswith("@"):
        start = len(before_cursor) - len(word) + 1
        return start, [(p, "") for p in _path_choices(word[1:])]
    return 0, []


class CompletionList(OptionList):
    """Choices for the word being typed; Tab takes the highlighted one."""

    def show(self, choices: list[tuple[str, str]]) -> None:
        self.clear_options()
        if not choices:
            self.display = False
            return
        self.add_options(
            [Option(f"{text}  [dim]{help_}[/]" if help_ else text, id=text) for text, help_ in choices]
        )
        self.highlighted = 0
        self.display = True


class PromptArea(TextArea):
    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self._start = 0
        self.theme_names: list[str] = []

    @property
    def completion(self) -> CompletionList | None:
        try:
            return self.screen.query_one(CompletionList)
        except Exception:
            return None

    def _before_cursor(self) -> str:
        row, column = self.cursor_location
        lines = self.text.split("\n")
        return "\n".join([*lines[:row], lines[row][:column]]) if lines else ""

    def on_text_area_changed(self, event: TextArea.Changed | None) -> None:
        completion = self.completion
        if completion is None:
            return
        self._start, choices = completions(self._before_cursor(), self.theme_names)
        completion.show(choices)

    def _accept(self, completion: CompletionList) -> None:
        index = completion.highlighted
        if index is None:
            return
        choice = completion.get_option_at_index(index).id or ""
        start = _location(self._before_cursor(), self._start)
        self.replace(choice, start, self.cursor_location)
        if choice.startswith("/") and not choice.endswith("/"):
            self.insert(" ")
        completion.display = False

    async def _on_key(self, event: events.Key) -> None:
        completion = self.completion
        if completion is not None and completion.display:
            if event.key == "tab":
                event.stop()
                event.prevent_default()
                self.on_text_area_changed(None)  # the choices for the text as it is now, not as last drawn
                if completion.display:
                    self._accept(completion)
                return
            if event.key in ("down", "up"):
                event.stop()
                event.prevent_default()
                completion.action_cursor_down() if event.key == "down" else completion.action_cursor_up()
                return
            if event.key == "escape":
                event.stop()
                event.prevent_default()
                completion.display = False
                return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text.strip()
            if text:  # the screen clears the editor once it takes the message
                self.post_message(self.Submitted(text))
            return
        if event.key in ("shift+enter", "ctrl+j"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)


def _location(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    row = before.count("\n")
    column = len(before) - (before.rfind("\n") + 1)
    return row, column
