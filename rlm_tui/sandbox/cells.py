"""One cell as the host follows it: its output as it arrives, the sub-calls it makes (served by
the caller's handler, answered over the channel), and the note added when it was stopped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.transport import Transport
from rlm_tui.sandbox.types import OutputHandler, SubCallHandler, SubCallRejected, SubCallRequest

STOP_NOTES = {
    "timeout": "\n[stopped: the cell ran past its {timeout:g} s timeout; variables from earlier cells are kept]\n",
    "interrupted": "\n[interrupted: the cell was stopped by the user; variables from earlier cells are kept]\n",
}


@dataclass
class CellRun:
    cell_id: str
    on_output: OutputHandler | None
    on_call: SubCallHandler | None
    chunks: list[tuple[str, str]] = field(default_factory=list)
    calls: set[asyncio.Task] = field(default_factory=set)

    def output(self, stream: str, text: str) -> None:
        self.chunks.append((stream, text))
        if self.on_output is not None:
            self.on_output(stream, text)

    def cancel_calls(self) -> None:
        for task in list(self.calls):
            task.cancel()

    def note_stop(self, status: str, timeout: float | None) -> None:
        """Say in the cell's output why it stopped (a timeout, the user's interrupt)."""
        if status in STOP_NOTES:
            self.output("stderr", STOP_NOTES[status].format(timeout=timeout or 0))

    @property
    def chars(self) -> int:
        return sum(len(text) for _, text in self.chunks)


async def serve_call(
    transport: Transport, msg: dict[str, Any], blobs: list[bytes], handler: SubCallHandler | None
) -> None:
    """Answer one sub-call from model code: the handler's value, or the error the cell sees."""
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
        await transport.send(reply)
        raise
    except Exception as exc:
        reply.update(ok=False, error=f"{type(exc).__name__}: {exc}", error_type="SubCallError")
    await transport.send(reply)
