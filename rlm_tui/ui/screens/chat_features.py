"""What the chat screen does beyond sending and drawing: copying from the keyboard, focus keys,
the queue of messages sent while a turn runs. Kept apart from ``chat.py`` (the layout and the
drawing of events), which calls ``setup_features`` once mounted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from textual.widgets import Input, TextArea

from rlm_tui.ui.clipboard import copy_entries
from rlm_tui.ui.finding import Match, find
from rlm_tui.ui.history import InputHistory
from rlm_tui.ui.screens.picker import Entry, PickerScreen
from rlm_tui.ui.widgets.attachments import AttachmentChips
from rlm_tui.ui.widgets.cells import CellWidget
from rlm_tui.ui.widgets.chat import AssistantMessage, UserMessage
from rlm_tui.ui.widgets.hint import EmptyHint
from rlm_tui.ui.widgets.prompt import PromptArea
from rlm_tui.ui.widgets.queued import QueuedMessages
from rlm_tui.ui.widgets.search import SearchBar

PANES = {"chat": "#prompt", "cells": "#cells", "tree": "#tree"}
# What an empty pane will show, said until it shows it (a first launch has nothing to draw)
CELLS_HINT = "Cells: the Python the model runs in its REPL appears here, with its output, live."
TREE_HINT = "Calls: every model call of the session appears here as a tree (Enter opens one)."


class ChatFeatures:
    """Mixed into ``ChatScreen`` (which provides ``model``, ``workspace``, ``send``, ``chat``)."""

    queued: list[str]

    def setup_features(self: Any) -> None:
        self.queued = []
        self._background = asyncio.Lock()
        prompt = self.query_one(PromptArea)
        prompt.sent_history = InputHistory(self.sent_messages)
        prompt.take_back_queued = self.take_back_queued
        self.query_one("#left").mount(QueuedMessages(id="queued"), before=prompt)
        self.query_one("#left").mount(SearchBar(id="search-bar"), before=prompt)
        self.query_one("#left").mount(AttachmentChips(id="chips"), before=prompt)
        side = self.query_one("#side")
        side.mount(EmptyHint(CELLS_HINT, id="cells-hint"), before="#cells")
        side.mount(EmptyHint(TREE_HINT, id="tree-hint"), before="#tree")
        self._found: list[Match] = []
        self._found_at = -1
        self._found_widget: Any = None

    def sent_messages(self: Any) -> list[str]:
        """The session's user messages, oldest first (a resumed session's included)."""
        return [self.model.turns[n].user for n in sorted(self.model.turns)]

    # -- copy ------------------------------------------------------------------------------

    def _focused_cell(self: Any) -> str | None:
        widget = self.focused
        while widget is not None and not isinstance(widget, CellWidget):
            widget = widget.parent
        return widget.cell.node_id if widget is not None else None

    def copy_text(self: Any, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {what} ({len(text):,} characters)")

    def action_copy_menu(self: Any) -> None:
        """F6: pick what to copy; the focused cell's code and output come first, then the last
        answer, then every message and cell, newest first."""
        entries, texts = copy_entries(self.model, self._focused_cell())
        if not entries:
            self.notify("Nothing to copy yet: messages, answers and cells appear here once sent.")
            return

        def picked(value: str | None) -> None:
            if value is not None:
                label = next(e.label for e in entries if e.value == value)
                self.copy_text(texts[value], label[:1].lower() + label[1:])

        self.app.push_screen(PickerScreen("Copy to the clipboard", entries), picked)

    def action_copy_last_answer(self: Any) -> None:
        _, texts = copy_entries(self.model)
        if "last-answer" not in texts:
            self.notify("No answer to copy yet.", severity="warning")
            return
        self.copy_text(texts["last-answer"], "the last answer")

    # -- focus -----------------------------------------------------------------------------

    def action_focus_pane(self: Any, pane: str) -> None:
        """Alt+1/2/3: the editor, the cells, the call tree (a hidden pane is shown first)."""
        widget = self.query_one(PANES[pane])
        if pane != "chat" and not widget.display:
            self.action_toggle_pane(pane)
        if pane != "chat" and not self.query_one("#side").display:
            self.action_toggle_pane("side")
        if self.maximized is not None and self.maximized is not widget:
            self.minimize()
        widget.focus()

    # -- messages sent while a turn runs ----------------------------------------------------

    def queue_message(self: Any, text: str) -> None:
        self.queued.append(text)
        self.query_one(QueuedMessages).show(self.queued)
        self.query_one(PromptArea).forget_recall()

    def take_back_queued(self: Any) -> str | None:
        """The newest queued message, taken out of the queue (to edit it, or drop it)."""
        if not self.queued:
            return None
        text = self.queued.pop()
        self.query_one(QueuedMessages).show(self.queued)
        return text

    def after_turn(self: Any) -> None:
        """A turn ended: send the next queued message; after a cancel, give them back to edit."""
        if not self.queued:
            return
        last = self.model.last_turn
        if last is not None and last.status == "cancelled":
            prompt = self.query_one(PromptArea)
            prompt.text = "\n\n".join([*self.queued, prompt.text] if prompt.text else self.queued)
            self.queued = []
            self.query_one(QueuedMessages).show([])
            self.notify("The turn was cancelled: your queued messages are back in the editor.")
            return
        text = self.queued.pop(0)
        self.query_one(QueuedMessages).show(self.queued)
        self.send(text)

    # -- search ----------------------------------------------------------------------------

    def action_search(self: Any) -> None:
        """Ctrl+F: the search bar (again: the same query, selected to type over)."""
        self.query_one(SearchBar).open()

    async def on_search_bar_moved(self: Any, message: SearchBar.Moved) -> None:
        bar = self.query_one(SearchBar)
        if message.step == 0 or not self._found:
            self._found = find(self.model, message.query)
            self.refresh_bindings()  # n / N (or Ctrl+G) in the footer while there is a query
            self._found_at = len(self._found)  # a new query starts from the newest match
            step = 1
        else:
            step = message.step
        if not self._found:
            self._mark(None)
            bar.say("no match" if message.query.strip() else "")
            return
        self._found_at = (self._found_at - step) % len(self._found)
        match = self._found[self._found_at]
        widget = await self._widget_of(match)
        self._mark(widget)
        shown = match.describe(self.model) + ("" if widget is not None else " (not drawn: Show earlier)")
        bar.say(f"{self._found_at + 1}/{len(self._found)} · {shown}")

    def on_search_bar_closed(self: Any, message: SearchBar.Closed) -> None:
        self._mark(None)
        self._found = []
        self.query_one(PromptArea).focus()
        self.refresh_bindings()  # the footer stops offering next / previous match

    def search_open(self: Any) -> bool:
        bar = self.query_one(SearchBar)
        return bool(bar.display and bar.input.value.strip())

    def typing(self: Any) -> bool:
        """The focus is in a text box (where n and N are letters)."""
        return isinstance(self.focused, (Input, TextArea))

    async def action_search_step(self: Any, step: int) -> None:
        """n / N: the search's next (earlier) or previous (later) match."""
        bar = self.query_one(SearchBar)
        if self.search_open():
            await self.on_search_bar_moved(SearchBar.Moved(bar.input.value, step))

    async def action_search_jump(self: Any, step: int) -> None:
        """Ctrl+G / Ctrl+Shift+G: the same, from the search box or the editor."""
        await self.action_search_step(step)

    async def _widget_of(self: Any, match: Match) -> Any:
        """The widget showing a match, brought into view (its turn's cells shown for a cell)."""
        if match.cell is None:
            kind = UserMessage if match.kind == "user" else AssistantMessage
            widget = next((w for w in self.chat.query(kind) if w.turn.number == match.turn), None)
            if widget is not None:
                self.chat.scroll_to_widget(widget, animate=False, top=True)
            return widget
        if self.cells.turn != match.turn:
            turn = self.model.turns[match.turn]
            await self.cells.show_turn(match.turn, [self.model.cells[c] for c in turn.cells])
        widget = self.cells.widgets.get(match.cell)
        if widget is not None:
            self.cells.scroll_to_widget(widget, animate=False, top=True)
        return widget

    def _mark(self: Any, widget: Any) -> None:
        if self._found_widget is not None:
            self._found_widget.remove_class("-search-hit")
        self._found_widget = widget
        if widget is not None:
            widget.add_class("-search-hit")

    async def run_in_background(self: Any, text: str) -> None:
        """A slow command (``/load``) beside the editor; such commands still run one at a time,
        in the order typed."""
        async with self._background:
            await self.run_command(text)

    async def background_done(self: Any) -> None:
        """Wait for the slow commands typed so far (the lock is fair: taken in order)."""
        async with self._background:
            pass

    # -- the model picker ------------------------------------------------------------------

    def open_model_picker(self: Any, which: str = "model") -> None:
        """/model (or /sub-model) with no name: pick from the models there are; the list loads
        off the UI thread while the picker is open (a name not in it can be typed too)."""
        label = "root model" if which == "model" else "sub-model"
        current = getattr(self.workspace.config, which)
        picker = PickerScreen(
            f"The {label} (now {current})",
            [Entry(current, current, "current")],
            placeholder="type a model name",
        )
        picker.picked_free_text = True

        async def picked(value: str | None) -> None:
            if value is not None and value != current:
                await self.run_command(f"/{which.replace('_', '-')} {value}")

        self.app.push_screen(picker, picked)
        self.run_worker(self._load_models(picker, which, current), group="models", exclusive=True)

    async def _load_models(self: Any, picker: PickerScreen, which: str, current: str) -> None:
        picker.set_entries(picker.entries, "loading the model list…")
        choices = await self.workspace.model_choices(which)
        entries = [Entry(current, current, "current")]
        for choice in choices:
            if choice.name != current:
                note = "the endpoint serves it" if choice.source == "endpoint" else ""
                if choice.window:
                    note = f"{note} · {choice.window:,} tokens".lstrip(" ·")
                entries.append(Entry(choice.name, choice.name, note))
        served = sum(c.source == "endpoint" for c in choices)
        picker.set_entries(entries, f"{len(choices):,} models ({served} from the endpoint) · Enter picks")

    # -- attachments -----------------------------------------------------------------------

    def refresh_hints(self: Any) -> None:
        """An empty pane's hint shows while the pane is shown and has nothing yet."""
        for hint in self.query(".empty-hint"):
            pane = self.cells if hint.id == "cells-hint" else self.tree
            empty = not pane.widgets if hint.id == "cells-hint" else not pane.tree_nodes
            hint.display = pane.display and empty

    def refresh_chips(self: Any) -> None:
        session = self.workspace.session
        shown = list(session.attachments.values()) if session is not None and not self.read_only_id else []
        for chips in self.query(AttachmentChips):  # none before setup_features
            chips.show(shown)

    async def attach_file(self: Any, path: str, name: str | None = None) -> Any:
        """Attach through the workspace, with a chip saying it is loading until it is in."""
        from pathlib import Path

        chips = self.query_one(AttachmentChips)
        target = Path(path).expanduser()
        key = name or target.name
        try:
            size = target.stat().st_size if target.is_file() else 0
        except OSError:
            size = 0
        chips.loading[key] = (time.monotonic(), size, self.workspace.attach_progress)
        self.refresh_chips()
        timer = self.set_interval(0.5, self.refresh_chips)
        try:
            return await self.workspace.attach(path, name)
        finally:
            timer.stop()
            chips.loading.pop(key, None)
            self.refresh_chips()
