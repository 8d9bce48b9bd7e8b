"""One REPL worker, as the host holds it: the engine's ``REPL`` interface, implemented on a
sandboxed process (``launch``), its channel (``transport``), the cell being run (``cells``) and
restarts (``restart``).

It keeps a running snapshot of the REPL's variables (the worker sends what changed after every
cell) and the data the host put in (history, files, context), so a worker that dies -- in a cell
or between cells -- is restarted with its variables back, and the restart is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from pathlib import Path
from typing import Any

from rlm_tui.errors import WorkerDied, WorkerRefused
from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.cells import CellRun, serve_call
from rlm_tui.sandbox.launch import Launched, kill, launch
from rlm_tui.sandbox.process import Isolation, choose_isolation, harden_host
from rlm_tui.sandbox.restart import FILE_TIMEOUT, HostData, restart_cause, restart_note
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.snapshot import Snapshot
from rlm_tui.sandbox.transport import Frame, Transport
from rlm_tui.sandbox.types import CellResult, OutputHandler, SubCallHandler


class Worker:
    _ids = itertools.count(1)

    def __init__(self, workdir: Path | str, settings: SandboxSettings | None = None) -> None:
        self.workdir = Path(workdir)
        self.settings = settings or SandboxSettings()
        self.snapshot = Snapshot()
        self.pid: int | None = None
        self.limits: dict[str, Any] = {}
        self.restarts = 0
        self.isolation: Isolation | None = None
        self.unreported_restarts: list[str] = []  # restarts outside a cell, for the caller to report
        self._proc: asyncio.subprocess.Process | None = None
        self._transport: Transport | None = None
        self._cell: CellRun | None = None
        self._data = HostData()
        self._closing = False
        self._restart_lock = asyncio.Lock()

    # -- process -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.isolation is None:
            self.isolation = await asyncio.to_thread(choose_isolation, self.settings)
            if self.isolation.level != "bubblewrap":
                harden_host()
        launched: Launched = await launch(self.workdir, self.settings, self.isolation)
        self._proc, self.pid, self.limits = launched.proc, launched.pid, launched.limits
        self._transport = Transport(
            launched.reader,
            launched.writer,
            on_output=self._on_output,
            on_call=self._on_call,
            name=f"worker-{self.pid}-reader",
        )

    @property
    def _dead(self) -> bool:
        return self._transport is None or self._transport.dead

    def _on_output(self, msg: dict[str, Any]) -> None:
        cell = self._cell
        if cell is not None and msg.get("cell") == cell.cell_id:
            cell.output(msg["stream"], msg["text"])

    def _on_call(self, msg: dict[str, Any], blobs: list[bytes]) -> None:
        cell = self._cell
        handler = cell.on_call if cell is not None and msg.get("cell") == cell.cell_id else None
        assert self._transport is not None
        task = asyncio.create_task(serve_call(self._transport, msg, blobs, handler))
        if cell is not None:
            cell.calls.add(task)
            task.add_done_callback(cell.calls.discard)

    async def _send(self, msg: dict[str, Any]) -> None:
        if self._transport is not None:
            await self._transport.send(msg)

    async def _request(
        self, op: str, blobs: list[bytes] | tuple[bytes, ...] = (), **fields: Any
    ) -> tuple[int, asyncio.Future[Frame]]:
        if self._transport is None:
            raise WorkerDied("worker is not running")
        return await self._transport.request(op, blobs, **fields)

    async def _call(
        self,
        op: str,
        blobs: list[bytes] | tuple[bytes, ...] = (),
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> Frame:
        """A control request. A dead worker is restarted first; one that does not answer in time
        (a model object's __repr__ stuck in a loop) is interrupted, then killed and restarted."""
        await self._ensure_alive()
        req_id, fut = await self._request(op, blobs, **fields)
        try:
            msg, out = await asyncio.wait_for(asyncio.shield(fut), timeout or self.settings.control_timeout)
        except TimeoutError:
            await self._send({"op": protocol.INTERRUPT, "cell": f"ctl{req_id}"})
            try:
                msg, out = await asyncio.wait_for(asyncio.shield(fut), self.settings.interrupt_grace)
            except (TimeoutError, WorkerDied):
                await self._kill()
                self.unreported_restarts.append(await self._restart(f"a {op} request did not finish"))
                raise WorkerDied(
                    f"the worker did not answer a {op} request in time; it was restarted"
                ) from None
        if not msg.get("ok"):
            raise WorkerRefused(msg.get("error", f"{op} failed"))
        return msg, out

    async def _raw_call(
        self,
        op: str,
        blobs: list[bytes] | tuple[bytes, ...] = (),
        timeout: float | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A request to a worker known to be alive (during a restart): no restart loop. One that
        does not answer in time is killed: the caller sees WorkerDied."""
        _, fut = await self._request(op, blobs, **fields)
        limit = timeout or self.settings.control_timeout
        try:
            msg, _ = await asyncio.wait_for(fut, limit)
        except TimeoutError:
            await self._kill()
            raise WorkerDied(f"the worker did not answer a {op} request in {limit:g} s") from None
        if not msg.get("ok"):
            raise WorkerRefused(msg.get("error", f"{op} failed"))
        return msg

    async def _ensure_alive(self) -> None:
        if self._dead and not self._closing:
            self.unreported_restarts.append(await self._restart(None))

    # -- cells -------------------------------------------------------------------------------

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
    ) -> CellResult:
        await self._ensure_alive()
        earlier = "; ".join(self.unreported_restarts) or None
        self.unreported_restarts.clear()
        cell = CellRun(f"c{next(self._ids)}", on_output, on_call)
        self._cell = cell
        started = time.perf_counter()
        stopped_for: str | None = None
        try:
            _, fut = await self._request(
                protocol.EXEC, cell=cell.cell_id, code=code, label=label, new_turn=new_turn, snapshot=snapshot
            )
            try:
                msg, blobs = await asyncio.wait_for(asyncio.shield(fut), timeout)
            except TimeoutError:
                stopped_for = "timeout"
                msg, blobs = await self._stop(cell, fut)
            except asyncio.CancelledError:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(self._stop(cell, fut))
                raise
        except WorkerDied:
            note = await self._restart(stopped_for)
            status = "timeout" if stopped_for else "crashed"
            duration = time.perf_counter() - started
            return CellResult(status, cell.chunks, note, duration, cell.chars, 0, restart_note=note)
        finally:
            cell.cancel_calls()
            self._cell = None
        if "snapshot" in msg:
            self.snapshot.apply(msg["snapshot"], blobs)
        status = msg.get("status", "error")
        if stopped_for == "timeout" and status == "interrupted":
            status = "timeout"
        cell.note_stop(status, timeout)
        return CellResult(
            status=status,
            chunks=cell.chunks,
            error=msg.get("error"),
            duration=time.perf_counter() - started,  # the host's own measure, whatever the worker says
            total_chars=msg.get("total_chars", 0),
            dropped_chars=msg.get("dropped_chars", 0),
            final=msg.get("final"),
            restart_note=earlier,
        )

    async def _stop(self, cell: CellRun, fut: asyncio.Future[Frame]) -> Frame:
        """Interrupt the cell; if it does not stop within the grace period, kill the worker."""
        await self._send({"op": protocol.INTERRUPT, "cell": cell.cell_id})
        cell.cancel_calls()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.settings.interrupt_grace)
        except TimeoutError:
            await self._kill()
            return await fut  # raises WorkerDied once the reader sees the channel close

    async def interrupt(self) -> bool:
        """Stop the running cell (the UI's Esc). Returns whether a cell was running."""
        cell = self._cell
        if cell is None:
            return False
        await self._send({"op": protocol.INTERRUPT, "cell": cell.cell_id})
        cell.cancel_calls()
        return True

    @property
    def busy(self) -> bool:
        return self._cell is not None

    # -- restart -----------------------------------------------------------------------------

    async def _kill(self) -> None:
        if self._proc is None:
            return
        await kill(self._proc)
        if self._transport is not None:
            await self._transport.finished()

    async def _restart(self, reason: str | None) -> str:
        async with self._restart_lock:
            if self._closing:
                raise WorkerDied("the REPL is closing")
            returncode = None
            if self._proc is not None:
                try:
                    returncode = await asyncio.wait_for(self._proc.wait(), 2)
                except TimeoutError:
                    await self._kill()
                    returncode = self._proc.returncode
            cause = restart_cause(reason, returncode)
            self.restarts += 1
            if self._transport is not None:
                await self._transport.close()
            await self.start()
            await self._data.replay(self._raw_call)
            failed = await self.restore(self.snapshot)
        restored = len(self.snapshot.blobs) - len(failed)
        return restart_note(cause, restored, sorted(failed) + sorted(self.snapshot.skipped))

    # -- what the host puts in ---------------------------------------------------------------

    async def set_vars(self, describe: dict[str, str] | None = None, **values: Any) -> None:
        """Set JSON-able host-owned values (history, a long message as ``context``, ...).

        ``describe`` gives the variable table's preview for a name, in place of its content.
        """
        if "context" in values:
            self._data.context = ("text", values["context"])
        self._data.values.update(
            {k: list(v) if isinstance(v, list) else v for k, v in values.items() if k != "context"}
        )
        if describe:
            self._data.describe.update(describe)
        await self._call(protocol.SET_VARS, values=values, describe=describe or {})

    async def append_vars(self, **items: list[Any]) -> None:
        """Append to host-owned lists (history) without sending them whole again."""
        for name, values in items.items():
            self._data.values.setdefault(name, []).extend(values)
        await self._call(protocol.SET_VARS, values={}, append=items)

    async def set_pickled(self, name: str, blob: bytes) -> None:
        """Set ``context`` from a pickle made by another worker (a child RLM's argument)."""
        if name != "context":
            raise WorkerRefused("only `context` can be set from another worker's pickle")
        self._data.context = ("pickle", blob)
        await self._call(protocol.SET_VARS, [blob], values={}, pickled=[name])

    async def load_file(
        self, name: str, path: str | os.PathLike, *, as_context: bool = True
    ) -> dict[str, Any]:
        """Have the worker read a file or folder into ``files[name]`` (and ``context``)."""
        path = os.fspath(Path(path).resolve())
        msg, _ = await self._call(
            protocol.LOAD_FILE, name=name, path=path, as_context=as_context, timeout=FILE_TIMEOUT
        )
        self._data.files.pop(name, None)
        self._data.files[name] = path
        if as_context:
            self._data.context = ("file", name)
        return {"type": msg.get("type"), "size": msg.get("size")}

    async def use_file_as_context(self, name: str) -> None:
        """Make an attached file ``context`` again (without reading it a second time)."""
        if name not in self._data.files:
            raise WorkerRefused(f"no attached file named {name!r}")
        self._data.context = ("file", name)
        await self._call(protocol.SET_VARS, values={}, context_file=name)

    # -- what the host reads out -------------------------------------------------------------

    async def take_snapshot(self, thorough: bool = False) -> Snapshot:
        """The worker's variables now. ``thorough`` pickles every mutable object again, large
        ones included (after a cell only small ones are: a cell can change them in place)."""
        msg, blobs = await self._call(protocol.SNAPSHOT, thorough=thorough)
        self.snapshot.apply(msg["snapshot"], blobs)
        return self.snapshot.copy()

    async def restore(self, snap: Snapshot) -> dict[str, str]:
        names = list(snap.blobs)
        if snap is not self.snapshot:
            self.snapshot = snap.copy()
        if not names:
            return {}
        msg = await self._raw_call(protocol.RESTORE, [snap.blobs[n] for n in names], names=names)
        return msg.get("failed", {})

    async def var_table(self, max_rows: int | None = 40) -> tuple[str, list[dict[str, str]]]:
        msg, _ = await self._call(protocol.VAR_TABLE, max_rows=max_rows)
        return msg["text"], msg["rows"]

    async def render_value(self, name: str) -> str | None:
        msg, _ = await self._call(protocol.RENDER_VALUE, name=name)
        return msg.get("text") if msg.get("found") else None

    async def close(self) -> None:
        if self._proc is None or self._closing:
            return
        self._closing = True
        if not self._dead:
            with contextlib.suppress(Exception):
                _, fut = await self._request(protocol.SHUTDOWN)
                await asyncio.wait_for(fut, 1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._proc.wait(), 1)
        await self._kill()
        if self._transport is not None:
            await self._transport.close()

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
