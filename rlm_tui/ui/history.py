"""Input history for the message editor: Up and Down walk the messages already sent.

The entries are the session's own user messages (so a resumed session brings its history back
with it) followed by the slash commands typed in this run (they are no turn). Walking away
from a half-typed message keeps it: Down past the newest entry gives it back.
"""

from __future__ import annotations

from collections.abc import Callable


class InputHistory:
    def __init__(self, messages: Callable[[], list[str]]) -> None:
        self._messages = messages  # the session's user messages, oldest first, read when walking starts
        # slash commands entered in this run, each with the number of messages sent before it
        self._typed: list[tuple[int, str]] = []
        self._entries: list[str] = []
        self._index: int | None = None  # into _entries while walking; None: not walking
        self._draft = ""

    def remember(self, text: str) -> None:
        """Something entered that is not a session message (a slash command)."""
        if text:
            self._typed.append((len(self._messages()), text))
        self.stop()

    def entries(self) -> list[str]:
        """Messages and commands in the order they were entered."""
        messages = self._messages()
        merged: list[str] = []
        typed = iter(sorted(self._typed, key=lambda entry: entry[0]))  # stable: order kept
        pending = next(typed, None)
        for index in range(len(messages) + 1):
            while pending is not None and pending[0] <= index:
                merged.append(pending[1])
                pending = next(typed, None)
            if index < len(messages):
                merged.append(messages[index])
        out: list[str] = []
        for text in merged:
            if text and (not out or out[-1] != text):  # the same entry twice in a row is one step
                out.append(text)
        return out

    @property
    def walking(self) -> bool:
        return self._index is not None

    def stop(self) -> None:
        self._index = None
        self._draft = ""

    def previous(self, current: str) -> str | None:
        """The entry before the one shown (``current`` is kept as the draft when walking starts);
        None when there is nothing earlier."""
        if self._index is None:
            self._entries = self.entries()
            if not self._entries:
                return None
            self._draft = current
            self._index = len(self._entries)
        if self._index == 0:
            return None
        self._index -= 1
        return self._entries[self._index]

    def next(self) -> str | None:
        """The entry after the one shown, the draft after the newest; None when not walking."""
        if self._index is None:
            return None
        self._index += 1
        if self._index >= len(self._entries):
            draft = self._draft
            self.stop()
            return draft
        return self._entries[self._index]
