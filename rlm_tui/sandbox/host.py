"""One REPL worker, as the host holds it: the engine's ``REPL`` interface, implemented on a
sandboxed process (``launch``), its channel (``transport``), the cell being run (``cells``) and
restarts (``restart``).

It keeps a running snapshot of the REPL's variables (the worker sends what changed after every
cell) and the data the host put in (history, files, context), so a worker that dies -- in a cell
or between cells -- is restarted with its variables back, and the restart is reported.

Nothing the worker says is trusted: a frame out of the protocol ends that worker (restarted, with
the reason in the note), the output cap is the host's own count, every write has a deadline and
a cell's timeout ends it whatever the worker does (interrupt, then a kill after the grace period).
A variable that cannot be restored -- it fails, hangs or ends the worker -- is skipped and named.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

from rlm_tui.errors import WorkerDied, WorkerRefused
from rlm_tui.sandbox import protocol, scratch
from rlm_tui.sandbox.cells import CellRun, serve_call
from rlm_tui.sandbox.cgroups import Cgroup
from rlm_tui.sandbox.children import await_ready, end_child, make_room, request_child
from rlm_tui.sandbox.fdpass import Attachment
from rlm_tui.sandbox.launch import Launched, kill, launch
from rlm_tui.sandbox.process import Isolation, choose_isolation, harden_host, with_caps
from rlm_tui.sandbox.restart import FILE_SEND_TIMEOUT, FILE_TIMEOUT, HostData, restart_cause, restart_note
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.snapshot import Snapshot
from rlm_tui.sandbox.transport import Frame, Transport
from rlm_tui.sandbox.types import CellResult, OutputHandler, SubCallHandler

RESTORE_WINDOW = 16  # restore requests in flight at once
MAX_RESTORE_DEATHS = 3  # variables that may end the worker in one restore before the rest are given up


SCRATCH_CHECK_SECONDS = 1.0  # how often the session folder is measured while a cell runs


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
        self._files: socket.socket | None = None  # attached files go to the worker on this
        self._loading: Attachment | None = None  # the file being attached, for its progress
        self._cgroup: Cgroup | None = None
        self._closing = False
        self._restart_lock = asyncio.Lock()
        self._spawn_lock = asyncio.Lock()  # one child started at a time: its sockets come in order
        self._children = 0  # child workers this one's worker runs now (they share its caps)

    # -- process -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.isolation is None:
            self.isolation = await asyncio.to_thread(choose_isolation, self.settings)
            if self.isolation.level != "bubblewrap":
                harden_host()
        if self._cgroup is not None:  # the last worker's group (it died on its own)
            await asyncio.to_thread(self._cgroup.remove)
            self._cgroup = None
        launched: Launched = await launch(self.workdir, self.settings, self.isolation)
        self._proc, self._cgroup = launched.proc, launched.cgroup
        self.isolation = with_caps(self.isolation, launched.tree_capped)
        self._attach(launched.reader, launched.writer, launched.files, launched.pid, launched.limits)

    def _attach(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        files: socket.socket,
        pid: int,
        limits: dict[str, Any],
    ) -> None:
        """Take a started worker's channel and files socket (whoever started it)."""
        self.pid, self.limits = pid, limits
        if self._files is not None:
            self._files.close()
        self._files = files
        self._files.settimeout(FILE_SEND_TIMEOUT)
        self._data.send_file = self._send_file
        self._transport = Transport(
            reader,
            writer,
            on_output=self._on_output,
            on_call=self._on_call,
            name=f"worker-{self.pid}-reader",
            limits=protocol.FrameLimits.for_snapshots(self.settings.snapshot_max_bytes),
            write_deadline=self.settings.control_timeout,
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

    async def _send(self, msg: dict[str, Any], deadline: float) -> bool:
        """A message with no reply (an interrupt); whether the worker took it within the deadline."""
        if self._transport is None:
            return False
        try:
            await self._transport.send(msg, deadline=deadline)
        except TimeoutError:
            return False
        return True

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
        try:
            req_id, fut = await self._request(op, blobs, **fields)
        except TimeoutError:  # the worker stopped reading its channel
            await self._kill()
            self.unreported_restarts.append(await self._restart(f"a {op} request was not taken"))
            raise WorkerDied(f"the worker did not take a {op} request; it was restarted") from None
        try:
            msg, out = await asyncio.wait_for(asyncio.shield(fut), timeout or self.settings.control_timeout)
        except TimeoutError:
            grace = self.settings.interrupt_grace
            await self._send({"op": protocol.INTERRUPT, "cell": f"ctl{req_id}"}, grace)
            try:
                msg, out = await asyncio.wait_for(asyncio.shield(fut), grace)
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
        limit = timeout or self.settings.control_timeout
        try:
            _, fut = await self._request(op, blobs, **fields)
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
        cell = CellRun(f"c{next(self._ids)}", on_output, on_call, cap=self.settings.output_cap_chars)
        self._cell = cell
        started = time.perf_counter()
        wall_started = time.time() - 1  # file times are coarse: a second's slack
        stopped_for: str | None = None
        watch: asyncio.Task | None = None
        try:
            try:
                _, fut = await self._request(
                    protocol.EXEC,
                    cell=cell.cell_id,
                    code=code,
                    label=label,
                    new_turn=new_turn,
                    snapshot=snapshot,
                )
            except TimeoutError:  # the worker stopped reading: it cannot run the cell
                stopped_for = "the worker stopped reading its channel"
                await self._kill()
                raise WorkerDied(stopped_for) from None
            watch = asyncio.create_task(self._watch_scratch(cell, fut))
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
            if watch is not None:
                watch.cancel()
            over_cap = await self._trim_scratch(cell, wall_started)
            note = await self._restart(stopped_for or over_cap)
            status = "timeout" if stopped_for == "timeout" else "crashed"
            duration = time.perf_counter() - started
            return CellResult(status, cell.chunks, note, duration, cell.kept, cell.dropped, restart_note=note)
        finally:
            if watch is not None:
                watch.cancel()
            cell.cancel_calls()
            self._cell = None
        over_cap = await self._trim_scratch(cell, wall_started)
        # Every field read below was checked by the transport (frames.check_reply); a failed
        # reply (the worker could not run the request) has only its error.
        if not msg["ok"]:
            msg = {"status": "error", "error": msg["error"], "dropped_chars": 0}
        if "snapshot" in msg:
            self.snapshot.apply(msg["snapshot"], blobs)
        status = msg["status"]
        if stopped_for == "timeout" and status == "interrupted":
            status = "timeout"
        error = msg.get("error")
        if over_cap:
            status, error = "error", over_cap
        cell.note_stop(status, timeout)
        uncaptured = msg["dropped_chars"]  # what the worker itself dropped past its own cap
        return CellResult(
            status=status,
            chunks=cell.chunks,
            error=cell.clip_error(error),
            duration=time.perf_counter() - started,  # the host's own measure, whatever the worker says
            total_chars=cell.kept,
            dropped_chars=cell.dropped + uncaptured,
            final=msg.get("final"),
            restart_note=earlier,
        )

    async def _watch_scratch(self, cell: CellRun, fut: asyncio.Future[Frame]) -> None:
        """Stop the cell once the session folder holds more than its scratch cap."""
        cap = self.settings.scratch_bytes
        while not fut.done():
            await asyncio.sleep(SCRATCH_CHECK_SECONDS)
            usage = await asyncio.to_thread(scratch.over, self.workdir, cap)
            if usage is not None and not fut.done():
                cell.over_scratch = True
                with contextlib.suppress(WorkerDied):
                    await self._stop(cell, fut)
                return

    async def _trim_scratch(self, cell: CellRun, since: float) -> str | None:
        """After a cell that left the folder past the cap: remove what it wrote, newest first, and say so."""
        cap = self.settings.scratch_bytes
        if not cell.over_scratch and await asyncio.to_thread(scratch.over, self.workdir, cap) is None:
            return None
        removed, left = await asyncio.to_thread(scratch.trim, self.workdir, cap, since)
        shown = ", ".join(removed[:10]) + (f" and {len(removed) - 10} more" if len(removed) > 10 else "")
        message = (
            f"the session folder grew past its scratch cap of {scratch.describe(cap)}, so the cell was "
            f"stopped; "
            + (f"files it wrote were removed: {shown}" if removed else "nothing it wrote could be removed")
            + f" (the folder now holds {scratch.describe(left)})"
        )
        cell.output("stderr", f"\n[{message}]\n")
        return message

    async def _stop(self, cell: CellRun, fut: asyncio.Future[Frame]) -> Frame:
        """Interrupt the cell; if it has not stopped within the grace period, kill the worker.

        The grace period bounds everything here, the interrupt's own write included: a worker that
        stopped reading its channel (a cell holding the interpreter lock) is killed all the same.
        """
        cell.cancel_calls()
        try:
            async with asyncio.timeout(self.settings.interrupt_grace):
                await self._send(
                    {"op": protocol.INTERRUPT, "cell": cell.cell_id}, self.settings.interrupt_grace
                )
                return await asyncio.shield(fut)
        except TimeoutError:
            await self._kill()
            return await fut  # raises WorkerDied once the reader sees the channel close

    async def interrupt(self) -> bool:
        """Stop the running cell (the UI's Esc). Returns whether a cell was running."""
        cell = self._cell
        if cell is None:
            return False
        await self._send({"op": protocol.INTERRUPT, "cell": cell.cell_id}, self.settings.interrupt_grace)
        cell.cancel_calls()
        return True

    @property
    def busy(self) -> bool:
        return self._cell is not None

    # -- restart -----------------------------------------------------------------------------

    async def _kill(self) -> None:
        if self._proc is None:
            return
        await kill(self._proc, self._cgroup)
        if self._transport is not None:
            await self._transport.finished()

    async def _restart(self, reason: str | None) -> str:
        async with self._restart_lock:
            if self._closing:
                raise WorkerDied("the REPL is closing")
            fault = self._transport.fault if self._transport is not None else None
            if fault is not None:
                reason = f"the worker sent a malformed frame ({fault})"
            cause = restart_cause(reason, await self._exit_status(fault is not None))
            await self._relaunch()
            total = len(self.snapshot.blobs)
            failed = await self._restore_all()
        lost = [f"{name} ({why})" for name, why in sorted(failed.items())] + sorted(self.snapshot.skipped)
        return restart_note(cause, total - len(failed), lost)

    async def _exit_status(self, faulted: bool) -> int | None:
        """How the last worker ended (killed first if it broke the protocol or lingers)."""
        if self._proc is None:
            return None
        if faulted:
            await self._kill()  # it broke the protocol: no waiting for it to exit
        try:
            return await asyncio.wait_for(self._proc.wait(), 2)
        except TimeoutError:
            await self._kill()
            return self._proc.returncode

    @property
    def _running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def _relaunch(self) -> None:
        """A new worker process with the host's data given back (history, files, ``context``);
        its variables are the caller's to restore."""
        if self._running:
            await self._kill()
        self.restarts += 1
        if self._transport is not None:
            await self._transport.close()
        await self.start()
        await self._data.replay(self._raw_call)

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
        """Have the worker read a file or folder into ``files[name]`` (and ``context``): the host
        opens it (only a regular file or a folder: ``AttachmentError`` at once otherwise) and
        passes the descriptors; the worker needs no view of the path."""
        path = os.fspath(Path(path).resolve())
        attachment = await asyncio.to_thread(Attachment.open, path)
        await self._ensure_alive()
        self._loading = attachment
        try:
            msg = await self._send_file(attachment, name, as_context, raw=False)
        finally:
            self._loading = None
            attachment.done()
        self._data.files.pop(name, None)
        self._data.files[name] = path
        if as_context:
            self._data.context = ("file", name)
        # the file's blake2b, taken by the worker as it read the file (so it is read once)
        return {"type": msg.get("type"), "size": msg.get("size"), "digest": msg.get("digest")}

    def load_progress(self) -> tuple[int, int] | None:
        """How far the file being attached has been read: (bytes, size), or None when unknown."""
        loading = self._loading
        return loading.read_so_far() if loading is not None else None

    async def _send_file(
        self, attachment: Attachment | str, name: str, as_context: bool, raw: bool = True
    ) -> dict[str, Any]:
        """One LOAD_FILE request, its descriptors sent alongside by a thread (the worker reads
        them as it loads; a full socket waits for it). ``raw``: during a restart's replay."""
        if isinstance(attachment, str):
            attachment = await asyncio.to_thread(Attachment.open, attachment)
        files = self._files
        if files is None:
            raise WorkerDied("worker is not running")
        sender = asyncio.create_task(asyncio.to_thread(attachment.send, files))
        fields = dict(
            name=name,
            kind=attachment.kind,
            count=len(attachment.names),
            load=attachment.load,
            as_context=as_context,
            timeout=FILE_TIMEOUT,
        )
        try:
            if raw:
                return await self._raw_call(protocol.LOAD_FILE, **fields)
            msg, _ = await self._call(protocol.LOAD_FILE, **fields)
            return msg
        finally:
            if sender.done():
                sender.exception()  # a worker gone mid-send: its error is the request's
            else:
                sender.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def use_file_as_context(self, name: str) -> None:
        """Make an attached file ``context`` again (without reading it a second time)."""
        if name not in self._data.files:
            raise WorkerRefused(f"no attached file named {name!r}")
        self._data.context = ("file", name)
        await self._call(protocol.SET_VARS, values={}, context_file=name)

    async def detach_file(self, name: str) -> str | None:
        """Drop an attached file from ``files``; if it was ``context``, the latest other file is
        ``context`` again (or nothing). Returns the name that is ``context`` now, if a file."""
        if name not in self._data.files:
            raise WorkerRefused(f"no attached file named {name!r}")
        del self._data.files[name]
        fields: dict[str, Any] = {"values": {}, "drop_file": name}
        now: str | None = None
        if self._data.context == ("file", name):
            others = list(self._data.files)
            if others:
                now = others[-1]
                self._data.context = ("file", now)
                fields["context_file"] = now
            else:
                self._data.context = None
                fields["values"] = {"context": None}
                fields["describe"] = {"context": "nothing: no file is attached"}
        elif self._data.context is not None and self._data.context[0] == "file":
            now = self._data.context[1]
        await self._call(protocol.SET_VARS, **fields)
        return now

    # -- what the host reads out -------------------------------------------------------------

    async def take_snapshot(self, thorough: bool = False) -> Snapshot:
        """The worker's variables now. ``thorough`` pickles every mutable object again, large
        ones included (after a cell only small ones are: a cell can change them in place)."""
        msg, blobs = await self._call(protocol.SNAPSHOT, thorough=thorough)
        self.snapshot.apply(msg["snapshot"], blobs)
        return self.snapshot.copy()

    async def restore(self, snap: Snapshot) -> dict[str, str]:
        """Load a snapshot's variables into the worker; return name -> why for those that were not.

        Each variable is loaded on its own within ``snapshot_seconds`` (the worker's own timer,
        and the host's deadline past it), so one variable never stops a resume: one whose loading
        fails or hangs is named and skipped; one that ends the worker (``os._exit`` in its
        ``__reduce__``) or holds it past the deadline costs one restart, without it. After
        ``MAX_RESTORE_DEATHS`` such restarts the rest are given up, named too. Variables not
        restored are dropped from the snapshot, so the next restart does not meet them again.
        """
        if snap is not self.snapshot:
            self.snapshot = snap.copy()
        return await self._restore_all()

    async def _restore_all(self) -> dict[str, str]:
        failed: dict[str, str] = {}
        window = RESTORE_WINDOW
        deaths = 0
        while deaths <= MAX_RESTORE_DEATHS:  # each turn names a culprit or goes one at a time
            culprit = await self._restore_each(failed, window)
            if culprit is None:
                break
            if culprit[0] is None:
                window = 1  # died with several loads queued: which one is found one at a time
            else:
                failed[culprit[0]] = culprit[1]
                deaths += 1
            await self._relaunch()  # the variables restored so far went with the worker
        else:
            why = f"the restore was given up after {MAX_RESTORE_DEATHS + 1} variables ended the worker"
            failed.update({name: why for name in self.snapshot.blobs if name not in failed})
        for name in failed:
            self.snapshot.blobs.pop(name, None)
        return failed

    async def _restore_each(self, failed: dict[str, str], window: int) -> tuple[str | None, str] | None:
        """Restore every variable not in ``failed`` (adding those the worker could not load);
        (name, why) of a variable that ended the worker or held it too long, which is killed.

        Up to ``window`` requests are in flight, answered in order, and each answer has
        ``snapshot_seconds`` (+ the grace period) from the one before it: one that does not come
        names the variable being loaded. A worker that dies with requests still unread resets
        the channel, and answers it had sent may be lost with it: then the name is None (the
        caller tries again one request at a time)."""
        seconds = self.settings.snapshot_seconds
        todo = iter([(n, b) for n, b in self.snapshot.blobs.items() if n not in failed])
        in_flight: collections.deque[tuple[str, asyncio.Future[Frame]]] = collections.deque()
        current = ""
        try:
            while True:
                while len(in_flight) < window and (item := next(todo, None)) is not None:
                    current = item[0]
                    _, fut = await self._request(protocol.RESTORE, [item[1]], names=[item[0]])
                    in_flight.append((item[0], fut))
                if not in_flight:
                    return None
                current, fut = in_flight[0]
                msg, _ = await asyncio.wait_for(fut, seconds + self.settings.interrupt_grace)
                in_flight.popleft()
                if not msg["ok"]:
                    failed[current] = msg["error"][:300]
                elif current in msg["failed"]:  # only this request's variable: other names are ignored
                    failed[current] = msg["failed"][current][:300]
        except TimeoutError:
            culprit = in_flight[0][0] if in_flight else current
            await self._kill()
            return culprit, f"its restore took longer than {seconds:g} s"
        except WorkerDied:
            if len(in_flight) > 1:
                return None, "its restore ended the worker"
            return (in_flight[0][0] if in_flight else current), "its restore ended the worker"
        finally:
            for _, left in in_flight:  # answered by nobody now: not an error to report
                left.cancel()

    async def var_table(self, max_rows: int | None = 40) -> tuple[str, list[dict[str, str]]]:
        msg, _ = await self._call(protocol.VAR_TABLE, max_rows=max_rows)
        return msg["text"], msg["rows"]

    async def render_value(self, name: str) -> str | None:
        msg, _ = await self._call(protocol.RENDER_VALUE, name=name)
        return msg.get("text") if msg.get("found") else None

    async def close(self) -> None:
        if self._transport is None or self._closing:
            return
        self._closing = True
        if not self._dead:
            with contextlib.suppress(Exception):
                _, fut = await self._request(protocol.SHUTDOWN)
                await asyncio.wait_for(fut, 1)
        if self._proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._proc.wait(), 1)
        await self._kill()
        if self._transport is not None:
            await self._transport.close()
        if self._files is not None:
            self._files.close()

    def child(self, name: str) -> ChildWorker | None:
        """A REPL for a child RLM, started by this worker inside its own sandbox (one process,
        no new sandbox); None where the settings keep children in sandboxes of their own."""
        return ChildWorker(self, name) if self.settings.light_children else None

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ChildWorker(Worker):
    """A child RLM's REPL: a worker started by its parent's worker (``sandbox.children``), in the
    parent's sandbox and cgroup, working in ``.children/<name>`` of the parent's folder. It has no
    process of its own here: it is ended through the parent, its death is seen as its channel
    closing, and a restart asks the parent again (a parent that is gone fails it)."""

    def __init__(self, parent: Worker, name: str) -> None:
        super().__init__(parent.workdir / ".children" / name, parent.settings)  # never opened here
        self.parent = parent
        self.name = name
        self._last_code: int | None = None
        self._counted = False  # in the parent's count of children (room in its caps)

    async def start(self) -> None:
        parent = self.parent
        self.isolation = parent.isolation
        timeout = self.settings.start_timeout
        if not self._counted:
            self._counted = True
            parent._children += 1
        make_room(parent._cgroup, self.settings.max_processes, parent._children)
        async with parent._spawn_lock:
            handed = await request_child(parent._transport, parent._files, self.name, timeout)
        spawned = await await_ready(parent._transport, handed, timeout)
        self._last_code = None
        self._attach(spawned.reader, spawned.writer, spawned.files, spawned.pid, spawned.limits)

    @property
    def _running(self) -> bool:
        return not self._dead

    async def _end(self, kill: bool) -> int | None:
        if self.pid is None:
            return None
        try:
            code = await end_child(self.parent._transport, self.pid, kill=kill, remove=self._closing)
        except (WorkerDied, WorkerRefused):  # the parent is gone (the child went with it), or
            return self._last_code  # it reaped this child already: how it ended then
        self._last_code = code if code is not None else self._last_code
        return code

    async def _kill(self) -> None:
        if self._transport is None:
            return
        await self._end(kill=True)
        await self._transport.close()  # a child the parent could not reach sees its channel close
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._transport.finished(), 2)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._counted:
                self._counted = False
                self.parent._children -= 1
                make_room(self.parent._cgroup, self.settings.max_processes, self.parent._children)

    async def _exit_status(self, faulted: bool) -> int | None:
        if faulted:
            return await self._end(kill=True)
        code = await self._end(kill=False)
        return code if code is not None else await self._end(kill=True)
