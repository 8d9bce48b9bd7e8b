"""What a restarted worker gets back: the data the host put in (history, files, ``context``),
replayed in the order it was given, and the words that say why the worker was restarted."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rlm_tui.errors import AttachmentError, WorkerRefused
from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.process import death_cause

FILE_TIMEOUT = 3600.0  # loading a file of gigabytes takes a while; it runs no model code
FILE_SEND_TIMEOUT = 600.0  # one batch of descriptors waiting for the worker to take it

# (op, blobs, timeout, fields) -> the worker's reply; used on a worker known to be alive
RawCall = Callable[..., Awaitable[dict[str, Any]]]
# (path, name, as_context) -> the worker's reply: the host opens the file and passes descriptors
SendFile = Callable[[str, str, bool], Awaitable[dict[str, Any]]]


@dataclass
class HostData:
    """What the host put into the REPL, replayed into a restarted worker in the same order."""

    values: dict[str, Any] = field(default_factory=dict)  # JSON values: history, ...
    describe: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # name -> path, in the order attached
    context: tuple[str, Any] | None = None  # ("file", name) | ("text", str) | ("pickle", bytes)
    send_file: SendFile | None = None  # set by the worker's host: files go as descriptors

    async def replay(self, call: RawCall) -> None:
        if self.values:
            await call(protocol.SET_VARS, values=self.values, describe=self.describe)
        for name, path in self.files.items():
            with contextlib.suppress(WorkerRefused, AttachmentError):  # a file gone since: the rest loads
                if self.send_file is None:
                    raise WorkerRefused("no way to pass files to this worker")
                await self.send_file(path, name, False)
        await self.apply_context(call)

    async def apply_context(self, call: RawCall) -> None:
        if self.context is None:
            return
        kind, value = self.context
        if kind == "file":
            await call(protocol.SET_VARS, values={}, context_file=value)
        elif kind == "text":
            await call(protocol.SET_VARS, values={"context": value}, describe=self.describe)
        else:
            await call(protocol.SET_VARS, [value], values={}, pickled=["context"])


def restart_cause(reason: str | None, returncode: int | None) -> str:
    if reason == "timeout":
        return "the cell ran past its timeout and did not stop when interrupted, so the worker was killed"
    if reason:
        return f"{reason}, so the worker was killed"
    return death_cause(returncode)


def restart_note(cause: str, restored: int, lost: list[str]) -> str:
    note = (
        f"{cause}; the REPL was restarted and {restored} variable(s) restored from the snapshot "
        "taken after the last finished cell"
    )
    if lost:
        note += f"; not restored: {', '.join(lost)}"
    return note
