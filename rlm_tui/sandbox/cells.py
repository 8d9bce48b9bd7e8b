"""One cell as the host follows it: its output as it arrives, the sub-calls it makes (served by
the caller's handler, answered over the channel), and the note added when it was stopped.

The output cap is the host's own count, not the worker's word: everything that arrives for the
cell is counted; the first half of the cap is kept (and shown live), then only the latest text up
to the other half, and what falls between is dropped and counted here. The cell's error text is
clipped to the same cap, so a worker that sends gigabytes for one cell leaves at most the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.transport import Transport
from rlm_tui.sandbox.types import OutputHandler, SubCallHandler, SubCallRejected, SubCallRequest

STOP_NOTES = {
    "timeout": "\n[stopped: the cell ran past its {timeout:g} s timeout; variables from earlier cells are kept]\n",
    "interrupted": "\n[interrupted: the cell was stopped by the user; variables from earlier cells are kept]\n",
}


def dropped_note(dropped: int) -> str:
    return f"\n[... {dropped:,} characters of output dropped past the output cap ...]\n"


@dataclass
class CellRun:
    cell_id: str
    on_output: OutputHandler | None
    on_call: SubCallHandler | None
    cap: int = 10_000_000
    head: list[tuple[str, str]] = field(default_factory=list)
    tail: deque[tuple[str, str]] = field(default_factory=deque)
    calls: set[asyncio.Task] = field(default_factory=set)
    over_scratch: bool = False  # the session folder outgrew its scratch cap during the cell
    received: int = 0  # every character that arrived for this cell
    dropped: int = 0  # of those, the ones not kept
    _head_chars: int = 0
    _tail_chars: int = 0

    def output(self, stream: str, text: str) -> None:
        self.received += len(text)
        room = self.cap // 2 - self._head_chars
        if room > 0:
            part, text = text[:room], text[room:]
            self.head.append((stream, part))
            self._head_chars += len(part)
            if self.on_output is not None:
                self.on_output(stream, part)
        if text:
            self._keep_tail(stream, text)

    def _keep_tail(self, stream: str, text: str) -> None:
        room = self.cap - self.cap // 2
        if len(text) > room:
            self.dropped += len(text) - room
            text = text[len(text) - room :]
        self.tail.append((stream, text))
        self._tail_chars += len(text)
        while self._tail_chars > room:
            old_stream, old = self.tail.popleft()
            over = self._tail_chars - room
            if over < len(old):
                self.tail.appendleft((old_stream, old[over:]))
                self._tail_chars -= over
                self.dropped += over
            else:
                self._tail_chars -= len(old)
                self.dropped += len(old)

    def note(self, stream: str, text: str) -> None:
        """A line of the host's own (why the cell stopped): kept whatever the cap, shown live."""
        self.tail.append((stream, text))
        if self.on_output is not None:
            self.on_output(stream, text)

    @property
    def chunks(self) -> list[tuple[str, str]]:
        middle = [("stderr", dropped_note(self.dropped))] if self.dropped else []
        return [*self.head, *middle, *self.tail]

    def clip_error(self, error: str | None) -> str | None:
        """The worker's error text within the cap (it is counted as output too)."""
        return None if error is None else protocol.clip(error, max(self.cap, 1000))

    def cancel_calls(self) -> None:
        for task in list(self.calls):
            task.cancel()

    def note_stop(self, status: str, timeout: float | None) -> None:
        """Say in the cell's output why it stopped (a timeout, the user's interrupt)."""
        if status in STOP_NOTES:
            self.note("stderr", STOP_NOTES[status].format(timeout=timeout or 0))

    @property
    def kept(self) -> int:
        """Characters of the worker's output kept (the host's own notes aside)."""
        return self.received - self.dropped


async def serve_call(
    transport: Transport, msg: dict[str, Any], blobs: list[bytes], handler: SubCallHandler | None
) -> None:
    """Answer one sub-call from model code: the handler's value, or the error the cell sees.
    The answer's write waits as long as the cell lives (the task is cancelled when it ends)."""
    reply: dict[str, Any] = {"op": protocol.RESULT, "id": msg["id"]}
    try:
        if handler is None:
            raise SubCallRejected("sub-calls are not available outside a running cell")
        value = await handler(SubCallRequest(msg["fn"], msg.get("args", {}), tuple(blobs)))
        reply.update(ok=True, value=value)
    except SubCallRejected as exc:
        reply.update(ok=False, error=str(exc), error_type=exc.error_type)
    except asyncio.CancelledError:
        reply.update(ok=False, error="the sub-call was cancelled", error_type="SubCallError")
        with contextlib.suppress(TimeoutError):
            await transport.send(reply, deadline=0.5)
        raise
    except Exception as exc:
        reply.update(ok=False, error=f"{type(exc).__name__}: {exc}", error_type="SubCallError")
    with contextlib.suppress(TimeoutError):  # a worker that stops reading: its cell's timeout ends it
        await transport.send(reply, deadline=None if handler is not None else transport.write_deadline)
