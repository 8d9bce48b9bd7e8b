"""The message editor: multi-line, Enter sends, Shift+Enter or Ctrl+J adds a line; slash commands
and ``@path`` complete with Tab from a list shown above the editor."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

from rlm_tui.ui import commands
from rlm_tui.ui.history import InputHistory

MAX_CHOICES = 12
CHAT_SCROLL_KEYS = ("pageup", "pagedown", "ctrl+home", "ctrl+end")


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
        self.add_options(  # Text, not markup: "PATH [as NAME]" stays as written
            [Option(Text.assemble(text, ("  " + help_, "dim")) if help_ else Text(text), id=text)
             for text, help_ in choices]
        )  # fmt: skip
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
        self.sent_history: InputHistory | None = None  # the screen gives it the session's messages
        self._recalled: str | None = None  # the history entry on show, until the user edits it
        # Set by the screen: takes the newest message queued while a turn runs back out of the queue.
        self.take_back_queued: Callable[[], str | None] = lambda: None

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
        if self._recalled is not None and self.text == self._recalled:
            completion.display = False  # a recalled command is complete: Up and Down keep walking
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
        if event.key in CHAT_SCROLL_KEYS:  # the chat scrolls from the editor: no focus change needed
            event.stop()
            event.prevent_default()
            self._scroll_chat(event.key)
            return
        if event.key == "up" and not self.text and (queued := self.take_back_queued()) is not None:
            event.stop()
            event.prevent_default()
            self.text = queued
            self.move_cursor(self.document.end)
            return
        if event.key in ("up", "down") and self._walk_history(event.key):
            event.stop()
            event.prevent_default()
            return
        if event.key == "tab":  # nothing to complete: the editor keeps the focus and what follows
            event.stop()
            event.prevent_default()
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text.strip()
            if text:  # taken at once: keys typed before the screen handles it stay in the editor
                self.clear()
                self.post_message(self.Submitted(text))
            return
        if event.key in ("shift+enter", "ctrl+j"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)

    def _walk_history(self, key: str) -> bool:
        """Up on the first line (Down on the last) shows the previous (next) message sent."""
        history = self.sent_history
        if history is None:
            return False
        row, _ = self.cursor_location
        if (key == "up" and row != 0) or (key == "down" and row != self.document.line_count - 1):
            return False
        if self._recalled is not None and self.text != self._recalled:
            history.stop()  # the recalled message was edited: it is the draft now
        entry = history.previous(self.text) if key == "up" else history.next()
        if entry is None:
            return False
        self._recalled = entry if history.walking else None
        self.text = entry
        # Up again goes further back from the first line; Down goes on from the last.
        self.move_cursor((0, len(entry.split("\n", 1)[0])) if key == "up" else self.document.end)
        return True

    def _scroll_chat(self, key: str) -> None:
        from rlm_tui.ui.widgets.chat import ChatView

        try:
            chat = self.screen.query_one(ChatView)
        except Exception:
            return
        {
            "pageup": chat.scroll_page_up,
            "pagedown": chat.scroll_page_down,
            "ctrl+home": chat.scroll_home,
            "ctrl+end": chat.scroll_end,
        }[key](animate=False)

    def give_back(self, text: str) -> None:
        """A message that was not sent returns to the editor (if nothing was typed since), with
        the cursor at its end."""
        if not self.text:
            self.text = text
            self.move_cursor(self.document.end)

    def forget_recall(self) -> None:
        """The editor was cleared or filled by the app: a new walk starts from the newest message."""
        self._recalled = None
        if self.sent_history is not None:
            self.sent_history.stop()


def _location(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    row = before.count("\n")
    column = len(before) - (before.rfind("\n") + 1)
    return row, column
