"""A one-line live progress report on stderr for headless runs: iterations, sub-calls, tokens,
cost, time. Also says, on its own line, when a call is retried or a limit is reached."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from rlm_tui.events import (
    Compacted,
    Event,
    ModelDelta,
    ModelFinished,
    ModelStarted,
    Notice,
    SubCallFinished,
    SubCallStarted,
    counts_as_a_call,
    usage_tokens,
)
from rlm_tui.services.formatting import read_so_far
from rlm_tui.services.visible import visible

NOTICE_KINDS = ("retry", "worker_restarted", "limit", "file_changed", "sandbox")


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self.iterations = 0
        self.sub_calls = 0
        self.tokens = 0
        self.cost = 0.0
        self.cost_unknown = False  # some call had no price
        self.cost_known = False  # some call had one
        self.estimated = False  # some counts are ours: the provider reported none
        self._last_draw = 0.0
        self._drawn = False
        # A file being loaded: (what, since, how far it has been read: (bytes, size), if known)
        self.attaching: tuple[str, float, Callable[[], tuple[int, int] | None] | None] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, ModelDelta):
            return
        if isinstance(event, ModelStarted) and event.depth == 0:
            self.iterations += 1
        elif isinstance(event, SubCallStarted) and not event.cached:
            self.sub_calls += 1
        elif isinstance(event, ModelFinished | SubCallFinished) and event.usage and counts_as_a_call(event):
            self._count(event.usage, event.cost_usd)
        elif isinstance(event, Notice) and event.kind in NOTICE_KINDS:
            self._print_line(f"rlm: {event.message}")
        elif isinstance(event, Compacted):
            self._print_line(
                f"rlm: the prompt was compacted to fit the {event.window:,}-token window "
                f"({event.tokens_before:,} → {event.tokens_after:,} tokens)"
            )
        self._draw()

    def _count(self, usage: Mapping[str, Any], cost: float | None) -> None:
        self.tokens += usage_tokens(usage)
        self.estimated = self.estimated or bool(usage.get("estimated"))
        if cost is None:
            self.cost_unknown = True
        else:
            self.cost += cost
            self.cost_known = True

    def attach_started(self, what: str, progress: Callable[[], tuple[int, int] | None] | None = None) -> None:
        """A file is being loaded (a large one takes a while): say so, with how much of it has
        been read (when ``progress`` can tell) and the time it has taken."""
        self.attaching = (what, time.monotonic(), progress)
        self._draw(force=True)

    def attach_finished(self) -> None:
        self.attaching = None

    def text(self) -> str:
        if self.attaching is not None:
            what, since, progress = self.attaching
            done = read_so_far(progress() if progress is not None else None)
            return f"attaching {what} | {done + ' | ' if done else ''}{time.monotonic() - since:.1f} s"
        if self.cost_unknown and not self.cost_known:
            cost = "cost unknown"  # never "$0.0000+?": nothing was priced at all
        else:
            cost = f"${self.cost:.4f}" + ("+?" if self.cost_unknown else "")
        elapsed = time.monotonic() - self.started
        return (
            f"iteration {self.iterations} | sub-calls {self.sub_calls} | {'~' if self.estimated else ''}"
            f"{self.tokens:,} tokens | {cost} | "
            f"{elapsed:.1f} s"
        )

    def _draw(self, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[K" + self.text())
        self.stream.flush()
        self._drawn = True

    async def tick(self, every: float = 0.5) -> None:
        """Redraw now and then, so the time goes on while a long cell or call sends no events.
        Runs until cancelled."""
        while self.live:
            await asyncio.sleep(every)
            self._draw(force=True)

    def say(self, line: str) -> None:
        """A line of its own on stderr (the live line is redrawn after it)."""
        self._print_line(line)

    def _print_line(self, line: str) -> None:
        if self.live and self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(visible(line) + "\n")  # a notice may quote model code or its output
        self.stream.flush()
        self._last_draw = 0.0

    def clear(self) -> None:
        if self.live and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
