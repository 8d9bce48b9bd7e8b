"""The help screen: every key binding of the app and the chat screen, and the slash commands."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from rlm_tui.ui.commands import COMMANDS

ABOUT = """\
# rlm-tui

Your files, the conversation and the model's notes live as variables in a Python REPL; the root
model writes code cells against them and calls sub-models from code. The **cells** pane shows each
cell with its output as it runs, the **calls** tree every model call and sub-call.
"""


def _key(key: str) -> str:
    return " / ".join(f"`{k}`" for k in key.split(","))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1", "dismiss", "Close")]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.bindings_shown = bindings

    def compose(self) -> ComposeResult:
        lines = [ABOUT, "## Keys", "", "| key | does |", "|---|---|"]
        lines += [f"| {_key(key)} | {description} |" for key, description in self.bindings_shown]
        lines += [
            "",
            "In the editor: `Enter` sends, `Shift+Enter` or `Ctrl+J` adds a line, `Tab` completes.",
            "",
        ]
        lines += ["## Commands", "", "| command | does |", "|---|---|"]
        lines += [f"| `{c.name}` {_cell(c.args)} | {_cell(c.help)} |" for c in COMMANDS]
        lines += [
            "",
            "`@path` in a message attaches that file or folder (Tab completes the path).",
            "",
            "Every action is also in the command palette (`Ctrl+P`).",
        ]
        with VerticalScroll(classes="dialog help"):
            yield Markdown("\n".join(lines))


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a ``|`` in it (``[md|jsonl]``) would start a new column."""
    return text.replace("|", "\\|")
