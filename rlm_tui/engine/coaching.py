"""Notes that keep a weak model moving: code it wrote where it does not run, and a reply or an
error that keeps coming back. A model that repeats itself five times is stopped: the turn is
``stuck``, not spent to its last iteration."""

from __future__ import annotations

from rlm_tui.errors import TurnStuck

NOTE_AT = 3  # the same reply, or the same error, this many times in a row: say so
STOP_AT = 5  # ...and this many: stop the turn

UNRUN_CODE = (
    "The code in your reply did not run: it is in a ``` block without `repl` (or the block has no "
    "opening fence), so it is not taken as your answer either. To run code, put it in a block that "
    "starts with ```repl on its own line and ends with ```. To answer, write FINAL(your answer)."
)
REPEATED = (
    "You have given the same {what} {count} times in a row; doing it again will not help. Look at the "
    "output above, then try a different approach (print what you are unsure of, or split the task)."
)


class Coach:
    def __init__(self) -> None:
        self.unrun_noted = False  # said once; a second reply of unrun code is taken as the answer
        self._last: dict[str, str | None] = {"reply": None, "error": None}
        self._count: dict[str, int] = {"reply": 0, "error": 0}

    def unrun_note(self, code: str | None) -> str | None:
        if code is None or self.unrun_noted:
            return None
        self.unrun_noted = True
        return UNRUN_CODE

    def observe(self, reply: str, error: str | None) -> str | None:
        """After an iteration: a note when the reply or its error repeats, ``TurnStuck`` at STOP_AT.
        An error is compared by its last line (the exception and its message): the traceback above
        it names the cell, which differs every time."""
        last_line = next((line for line in reversed((error or "").splitlines()) if line.strip()), None)
        notes = []
        for what, value in (("reply", " ".join(reply.split())), ("error", last_line)):
            if value is None:
                self._last[what], self._count[what] = None, 0
                continue
            self._count[what] = self._count[what] + 1 if value == self._last[what] else 1
            self._last[what] = value
            count = self._count[what]
            if count >= STOP_AT:
                raise TurnStuck(f"the model gave the same {what} {count} times in a row")
            if count >= NOTE_AT:
                notes.append(REPEATED.format(what=what, count=count))
        return notes[0] if notes else None
