"""A screen's actions, declared once: each gives its key binding, its footer label, its help line
and its command-palette entry, and says when it applies. A screen's ``ACTIONS`` make its
``BINDINGS`` (``bindings``) and its palette entries (the app's ``get_system_commands``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.binding import Binding


@dataclass(frozen=True)
class ScreenAction:
    action: str  # a Textual action of the screen, e.g. "toggle_pane('cells')"
    title: str  # in the footer and the palette
    help: str  # the tooltip, the help screen and the palette's second line
    key: str | None = None  # None: in the palette only
    footer: bool = True
    priority: bool = False
    palette: bool = True
    applies: Callable[[Any], bool] | None = None  # given the screen; None: always

    def binding(self) -> Binding:
        assert self.key is not None
        return Binding(
            self.key, self.action, self.title, show=self.footer, priority=self.priority, tooltip=self.help
        )


def _busy(screen: Any) -> bool:
    return bool(screen.workspace.busy)


def _read_only(screen: Any) -> bool:
    return screen.read_only_id is not None and screen.app.view is None


CHAT_ACTIONS: tuple[ScreenAction, ...] = (
    ScreenAction(
        "cancel_turn",
        "Cancel turn",
        "Stop the running turn: the cell is interrupted, sub-calls cancelled, work so far kept",
        key="escape",
        applies=_busy,
    ),
    # While a search is open: n / N from the chat or the panes (F3 is the call tree's key), Ctrl+G /
    # Ctrl+Shift+G from the search box or the editor, where n and N are typed. The footer shows
    # whichever pair works where the focus is, first (a narrow footer cuts its end).
    ScreenAction(
        "search_step(1)", "Next match", "The next (earlier) match of the search", key="n", palette=False
    ),
    ScreenAction(
        "search_step(-1)",
        "Prev match",
        "The previous (later) match of the search",
        key="N",
        palette=False,
    ),
    ScreenAction(
        "search_jump(1)",
        "Next match",
        "The next (earlier) match, from the search box or editor",
        key="ctrl+g",
        palette=False,
    ),
    ScreenAction(
        "search_jump(-1)",
        "Prev match",
        "The previous (later) match, from any text box",
        key="ctrl+shift+g",
        palette=False,
    ),
    ScreenAction("help", "Help", "Every key and command", key="f1"),
    ScreenAction(
        "new_session", "New session", "Start a new session (the current one is saved)", key="ctrl+n"
    ),
    ScreenAction(
        "sessions", "Sessions", "Browse, search, open, resume, fork, export and delete sessions", key="ctrl+o"
    ),
    ScreenAction(
        "resume",
        "Resume",
        "Resume the session shown read-only",
        key="ctrl+r",
        footer=False,
        applies=_read_only,
    ),
    ScreenAction("toggle_pane('cells')", "Cells", "Show or hide the cells pane", key="f2", priority=True),
    ScreenAction("toggle_pane('tree')", "Calls", "Show or hide the call tree", key="f3", priority=True),
    ScreenAction(
        "toggle_pane('side')",
        "Side panes",
        "Show or hide both side panes",
        key="f4",
        footer=False,
        priority=True,
    ),
    ScreenAction(
        "maximize_focused",
        "Maximize pane",
        "Maximize the focused pane (again, or Esc, to restore)",
        key="f5",
        priority=True,
    ),
    ScreenAction(
        "resize_side(-1)",
        "Narrower side",
        "Make the side panes narrower",
        key="f7",
        footer=False,
        priority=True,
    ),
    ScreenAction(
        "resize_side(1)", "Wider side", "Make the side panes wider", key="f8", footer=False, priority=True
    ),
    ScreenAction("focus_prompt", "Editor", "Focus the message editor", key="ctrl+l", footer=False),
    ScreenAction(
        "copy_menu",
        "Copy",
        "Copy the last answer, a message, a cell's code or output",
        key="f6",
        priority=True,  # the editor binds F6 (select line)
    ),
    ScreenAction(
        "search", "Search", "Search the chat and its cells (Enter: earlier match)", key="ctrl+f", footer=False
    ),
    ScreenAction("copy_last_answer", "Copy last answer", "Copy the last answer to the clipboard"),
    ScreenAction(
        "focus_pane('chat')", "Go to editor", "Focus the editor (the chat)", key="alt+1", footer=False
    ),
    ScreenAction("focus_pane('cells')", "Go to cells", "Focus the cells pane", key="alt+2", footer=False),
    ScreenAction("focus_pane('tree')", "Go to calls", "Focus the call tree", key="alt+3", footer=False),
    ScreenAction("app.change_theme", "Theme", "Pick a theme", key="ctrl+t", footer=False, palette=False),
)


def bindings(actions: tuple[ScreenAction, ...]) -> list[Binding]:
    return [a.binding() for a in actions if a.key is not None]


def applicable(screen: Any) -> list[ScreenAction]:
    """The screen's actions that belong in the palette now."""
    return [
        a for a in getattr(screen, "ACTIONS", ()) if a.palette and (a.applies is None or a.applies(screen))
    ]
