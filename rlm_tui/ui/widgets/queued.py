"""Messages sent while a turn runs: they wait here, shown above the editor, until it ends."""

from __future__ import annotations

from textual.widgets import Static


class QueuedMessages(Static):
    """One line per queued message; hidden when none waits."""

    DEFAULT_CSS = """
    QueuedMessages { height: auto; max-height: 5; padding: 0 1; color: $text-muted; display: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.messages: list[str] = []

    def show(self, messages: list[str]) -> None:
        self.messages = list(messages)
        self.display = bool(messages)
        lines = []
        for text in messages:
            line = " ".join(text.split())
            lines.append(f"⏳ queued: {line[:70] + '…' if len(line) > 70 else line}")
        if messages:
            lines.append("   sent when the turn ends · Up in the empty editor takes the last one back")
        self.update("\n".join(lines))
