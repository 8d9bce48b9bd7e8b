"""Host side of a REPL worker: the process, the channel, timeouts, interrupts and restarts.

One ``Worker`` is one REPL. It keeps a running snapshot of the REPL's variables (the worker sends
what changed after every cell) and the data the host put in (history, files, context), so a
worker that dies -- in a cell or between cells -- is restarted with its variables back, and the
restart is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.errors import WorkerDied, WorkerRefused, WorkerStartError
from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.env import worker_env
from rlm_tui.sandbox.process import Isolation, choose_isolation, death_cause, harden_host, worker_command
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.snapshot import Snapshot
from rlm_tui.sandbox.truncate import truncate_for_model

STOP_NOTES = {
    "timeout": "\n[stopped: the cell ran past its {timeout:g} s timeout; variables from earlier cells are kept]\n",
    "interrupted": "\n[interrupted: the cell was stopped by the user; variables from earlier cells are kept]\n",
}
FILE_TIMEOUT = 3600.0  # loading a file of gigabytes takes a while; it runs no model code


class SubCallRejected(Exception):
    """Raised by a sub-call handler: the cell sees ``error_type(message)``."""

    def __init__(self, message: str, error_type: str = "SubCallError") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class SubCallRequest:
    fn: str
    args: dict[str, Any]
    blobs: list[bytes]


SubCallHandler = Callable[[SubCallRequest], Awaitable[Any]]
OutputHandler = Callable[[str, str], None]


@dataclass
class CellResult:
    status: str  # ok | error | timeout | interrupted | crashed
    chunks: list[tuple[str, str]]
    error: str | None
    duration: float
    total_chars: int
    dropped_chars: int
    final: str | None = None
    notes: list[str] = field(default_factory=list)
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


@dataclass
class _Cell:
    cell_id: str
    on_output: OutputHandler | None
    on_call: SubCallHandler | None
    chunks: list[tuple[str, str]] = field(default_factory=list)
    calls: set[asyncio.Task] = field(default_factory=set)


@dataclass
class _HostData:
    """What the host put into the REPL, replayed into a restarted worker in the same order."""

    values: dict[str, Any] = field(default_factory=dict)  # JSON values: history, ...
    describe: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # name -> path, in the order attached
    context: tuple[str, Any] | None = None  # ("file", name) | ("text", str) | ("pickle", bytes)


class Worker:
    _ids = itertools.count(1)

    def __init__(self, workdir: Path | str, settings: SandboxSettings | None = None) -> None:
        self.workdir = Path(workdir)
        self.settings = settings or SandboxSettings()
        self.snapshot = Snapshot()
        self.started_in = 0.0
        self.pid: int | None = None
        self.limits: dict[str, Any] = {}
        self.restarts = 0
        self.isolation: Isolation | None = None
        self.unreported_restarts: list[str] = []  # restarts outside a cell, for the caller to report
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = itertools.count(1)
        self._cell: _Cell | None = None
        self._data = _HostData()
        self._dead = False
        self._closing = False
        self._restart_lock = asyncio.Lock()

    # -- process -----------------------------------------------------------------------------

    async def start(self) -> None:
        t0 = time.perf_counter()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.isolation is None:
            self.isolation = await asyncio.to_thread(choose_isolation, self.settings)
            if self.isolation.level != "bubblewrap":
                harden_host()
        tmpdir = None
        if self.isolation.level == "bubblewrap":
            tmpdir = self.workdir / ".tmp"
            tmpdir.mkdir(exist_ok=True)
        parent, child = socket.socketpair()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *worker_command(self.settings, self.workdir, child.fileno(), self.isolation),
                pass_fds=(child.fileno(),),
                cwd=self.workdir,
                env=worker_env(tmpdir=str(tmpdir) if tmpdir else None),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        finally:
            child.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        try:
            msg, _ = await asyncio.wait_for(protocol.recv_stream(reader), self.settings.start_timeout)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, ValueError) as exc:
            err = b""
            with contextlib.suppress(Exception):
                self._proc.kill()
                if self._proc.stderr is not None:
                    err = await asyncio.wait_for(self._proc.stderr.read(), 2)
            detail = err.decode(errors="replace").strip()[-2000:] or type(exc).__name__
            raise WorkerStartError(f"the REPL worker failed to start: {detail}") from exc
        if msg.get("op") != protocol.READY:
            raise WorkerStartError(f"unexpected first message from the worker: {msg}")
        self.pid = msg["pid"]
        self.limits = msg.get("limits", {})
        self._dead = False
        self._reader_task = asyncio.create_task(self._read_loop(reader), name=f"worker-{self.pid}-reader")
        self.started_in = time.perf_counter() - t0

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                msg, blobs = await protocol.recv_stream(reader)
                op = msg.get("op")
                if op == protocol.REPLY:
                    fut = self._pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result((msg, blobs))
                elif op == protocol.OUTPUT:
                    self._on_output(msg)
                elif op == protocol.CALL:
                    self._on_call(msg, blobs)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError, KeyError):
            pass  # the channel broke (or carried garbage): the worker counts as dead
        finally:
            self._dead = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(WorkerDied("worker died"))
            self._pending.clear()

    def _on_output(self, msg: dict[str, Any]) -> None:
        cell = self._cell
        if cell is None or msg.get("cell") != cell.cell_id:
            return
        cell.chunks.append((msg["stream"], msg["text"]))
        if cell.on_output is not None:
            cell.on_output(msg["stream"], msg["text"])

    def _on_call(self, msg: dict[str, Any], blobs: list[bytes]) -> None:
        cell = self._cell
        handler = cell.on_call if cell is not None and msg.get("cell") == cell.cell_id else None
        task = asyncio.create_task(self._serve_call(msg, blobs, handler))
        if cell is not None:
            cell.calls.add(task)
            task.add_done_callback(cell.calls.discard)

    async def _serve_call(
        self, msg: dict[str, Any], blobs: list[bytes], handler: SubCallHandler | None
    ) -> None:
        reply: dict[str, Any] = {"op": protocol.RESULT, "id": msg["id"]}
        try:
            if handler is None:
                raise SubCallRejected("sub-calls are not available outside a running cell")
            reply.update(ok=True, value=await handler(SubCallRequest(msg["fn"], msg.get("args", {}), blobs)))
        except SubCallRejected as exc:
            reply.update(ok=False, error=str(exc), error_type=exc.error_type)
        except asyncio.CancelledError:
            reply.update(ok=False, error="the sub-call was cancelled", error_type="SubCallError")
            await self._send(reply)
            raise
        except Exception as exc:
            reply.update(ok=False, error=f"{type(exc).__name__}: {exc}", error_type="SubCallError")
        await self._send(reply)

    async def _send(self, msg: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
        if self._dead or self._writer is None:
            return
        try:
            self._writer.write(protocol.encode(msg, blobs))
            await self._writer.drain()
        except (ConnectionError, OSError):
            self._dead = True

    async def _request(
        self, op: str, blobs: list[bytes] | tuple[bytes, ...] = (), **fields: Any
    ) -> tuple[int, asyncio.Future]:
        if self._dead:
            raise WorkerDied("worker is not running")
        req_id = next(self._next_id)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        await self._send({"op": op, "id": req_id, **fields}, blobs)
        return req_id, fut

    async def _call(
        self,
        op: str,
        blobs: list[bytes] | tuple[bytes, ...] = (),
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> tuple[dict[str, Any], list[bytes]]:
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
        cell = _Cell(f"c{next(self._ids)}", on_output, on_call)
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
            chars = sum(len(t) for _, t in cell.chunks)
            status = "timeout" if stopped_for else "crashed"
            return CellResult(
                status, cell.chunks, note, time.perf_counter() - started, chars, 0, restart_note=note
            )
        finally:
            for task in list(cell.calls):
                task.cancel()
            self._cell = None
        if "snapshot" in msg:
            self.snapshot.apply(msg["snapshot"], blobs)
        status = msg.get("status", "error")
        if stopped_for == "timeout" and status == "interrupted":
            status = "timeout"
        if status in STOP_NOTES:
            note = STOP_NOTES[status].format(timeout=timeout)
            cell.chunks.append(("stderr", note))
            if on_output is not None:
                on_output("stderr", note)
        return CellResult(
            status=status,
            chunks=cell.chunks,
            error=msg.get("error"),
            duration=time.perf_counter() - started,  # the host's own measure, whatever the worker says
            total_chars=msg.get("total_chars", 0),
            dropped_chars=msg.get("dropped_chars", 0),
            final=msg.get("final"),
            notes=msg.get("notes", []),
            restart_note=earlier,
        )

    async def _stop(self, cell: _Cell, fut: asyncio.Future) -> tuple[dict[str, Any], list[bytes]]:
        """Interrupt the cell; if it does not stop within the grace period, kill the worker."""
        await self._send({"op": protocol.INTERRUPT, "cell": cell.cell_id})
        for task in list(cell.calls):
            task.cancel()
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
        for task in list(cell.calls):
            task.cancel()
        return True

    @property
    def busy(self) -> bool:
        return self._cell is not None

    # -- restart and state -------------------------------------------------------------------

    async def _kill(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        await self._proc.wait()
        if self._reader_task is not None:
            with contextlib.suppress(BaseException):
                await self._reader_task

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
            if reason == "timeout":
                cause = "the cell ran past its timeout and did not stop when interrupted, so the worker was killed"
            elif reason:
                cause = f"{reason}, so the worker was killed"
            else:
                cause = death_cause(returncode)
            self.restarts += 1
            if self._writer is not None:
                self._writer.close()
            await self.start()
            await self._reinject()
            failed = await self.restore(self.snapshot)
        restored = len(self.snapshot.blobs) - len(failed)
        note = (
            f"{cause}; the REPL was restarted and {restored} variable(s) restored from the snapshot "
            "taken after the last finished cell"
        )
        lost = sorted(failed) + sorted(self.snapshot.skipped)
        if lost:
            note += f"; not restored: {', '.join(lost)}"
        return note

    async def _reinject(self) -> None:
        data = self._data
        if data.values:
            await self._raw_call(protocol.SET_VARS, values=data.values, describe=data.describe)
        for name, path in data.files.items():
            with contextlib.suppress(WorkerRefused):
                await self._raw_call(
                    protocol.LOAD_FILE, name=name, path=path, as_context=False, timeout=FILE_TIMEOUT
                )
        await self._apply_context()

    async def _apply_context(self) -> None:
        context = self._data.context
        if context is None:
            return
        kind, value = context
        if kind == "file":
            await self._raw_call(protocol.SET_VARS, values={}, context_file=value)
        elif kind == "text":
            await self._raw_call(protocol.SET_VARS, values={"context": value}, describe=self._data.describe)
        else:
            await self._raw_call(protocol.SET_VARS, [value], values={}, pickled=["context"])

    async def _raw_call(
        self,
        op: str,
        blobs: list[bytes] | tuple[bytes, ...] = (),
        timeout: float | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A request to a worker known to be alive (during a restart): no restart loop."""
        _, fut = await self._request(op, blobs, **fields)
        msg, _ = await asyncio.wait_for(fut, timeout or self.settings.control_timeout)
        if not msg.get("ok"):
            raise WorkerRefused(msg.get("error", f"{op} failed"))
        return msg

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
            raise ValueError("only `context` can be set from another worker's pickle")
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
            raise ValueError(f"no attached file named {name!r}")
        self._data.context = ("file", name)
        await self._call(protocol.SET_VARS, values={}, context_file=name)

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
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
