"""What a REPL hands back and what it is handed: a cell's result, a sub-call request from model
code, and the handlers a caller gives for a cell's output and sub-calls. Plain data: the engine
reads these through its REPL interface (``engine.repl``) without knowing the worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rlm_tui.events import CellStatus
from rlm_tui.sandbox.truncate import truncate_for_model


class SubCallRejected(Exception):
    """Raised by a sub-call handler: the cell sees ``error_type(message)``."""

    def __init__(self, message: str, error_type: str = "SubCallError") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class SubCallRequest:
    fn: str
    args: Mapping[str, Any]
    blobs: tuple[bytes, ...]


SubCallHandler = Callable[[SubCallRequest], Awaitable[Any]]
OutputHandler = Callable[[str, str], None]


@dataclass
class CellResult:
    status: CellStatus
    chunks: list[tuple[str, str]]
    error: str | None
    duration: float  # measured by the host
    total_chars: int  # characters of output kept (counted by the host)
    dropped_chars: int  # dropped past the output cap: by the host, plus what the worker never sent
    final: str | None = None
    restart_note: str | None = None

    @property
    def output(self) -> str:
        return "".join(text for _, text in self.chunks)

    @property
    def stdout(self) -> str:
        return "".join(text for stream, text in self.chunks if stream == "stdout")

    def for_model(self, limit: int) -> tuple[str, bool]:
        text, truncated = truncate_for_model(self.output, limit, self.dropped_chars)
        if self.restart_note:
            text += f"\n[{self.restart_note}]"
        return text, truncated
