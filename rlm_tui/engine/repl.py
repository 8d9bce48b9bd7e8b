"""The REPL as the engine sees it: an interface, not a process.

The sandbox's worker (``sandbox.host.Worker``) implements it; a remote sandbox would be a second
implementation. The engine is handed a ``REPLFactory`` (by the application layer) and never names
the concrete class.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.snapshot import Snapshot
from rlm_tui.sandbox.types import CellResult, OutputHandler, SubCallHandler


class IsolationInfo(Protocol):
    level: str  # how the REPL is isolated, e.g. bubblewrap | process
    note: str  # what that means, for the status bar and a one-time notice


class REPL(Protocol):
    """One persistent Python namespace that runs model code."""

    isolation: IsolationInfo | None
    snapshot: Snapshot  # the variables after the last finished cell, as opaque pickles
    unreported_restarts: list[str]  # restarts outside a cell, for the caller to report

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def interrupt(self) -> bool: ...

    async def run_cell(
        self,
        code: str,
        *,
        timeout: float | None = None,
        on_output: OutputHandler | None = None,
        on_call: SubCallHandler | None = None,
        label: str | None = None,
        new_turn: bool = False,
        snapshot: bool = True,
    ) -> CellResult: ...

    async def set_vars(self, describe: dict[str, str] | None = None, **values: Any) -> None: ...
    async def append_vars(self, **items: list[Any]) -> None: ...
    async def set_pickled(self, name: str, blob: bytes) -> None: ...
    async def load_file(
        self, name: str, path: str | os.PathLike, *, as_context: bool = True
    ) -> dict[str, Any]: ...
    async def use_file_as_context(self, name: str) -> None: ...
    async def detach_file(self, name: str) -> str | None: ...
    async def take_snapshot(self, thorough: bool = False) -> Snapshot: ...
    async def restore(self, snap: Snapshot) -> dict[str, str]: ...
    async def var_table(self, max_rows: int | None = 40) -> tuple[str, list[dict[str, str]]]: ...
    async def render_value(self, name: str) -> str | None: ...

    def child(self, name: str) -> REPL | None:
        """A REPL (not yet started) for a child RLM named ``name``, run inside this one's sandbox
        (cheaper than a new one); None where this REPL does not offer that. Optional: the
        engine looks it up with getattr, so a REPL without it gets sandboxes of its own."""
        ...


# (the REPL's working folder, its settings) -> a REPL, not yet started
REPLFactory = Callable[[Path, SandboxSettings], REPL]
