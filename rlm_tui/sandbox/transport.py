"""The host's end of a worker's socket: framed messages out, replies matched to the requests that
asked for them, and the worker's own frames (a cell's output, a sub-call) handed on.

Nothing the worker sends is trusted: each frame is read within ``FrameLimits`` and checked by
``frames`` before any field is used. A frame that breaks the protocol is a *fault*: the channel is
closed at once (the worker, seeing it close, exits), ``fault`` says what was wrong, and every
request in flight fails with ``WorkerDied`` so the caller restarts the worker. A channel that just
breaks marks the worker dead the same way.

Every write has a deadline (``send(..., deadline=)``): a worker that stops reading cannot hold the
host in ``drain()``. A write that misses its deadline raises ``TimeoutError`` to the caller, which
decides (the host kills the worker); ``deadline=None`` is for writes bounded by their caller's own
life (a sub-call's answer, cancelled when its cell ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from rlm_tui.errors import WorkerDied
from rlm_tui.sandbox import frames, protocol

Frame = tuple[dict[str, Any], list[bytes]]


class Transport:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_output: Callable[[dict[str, Any]], None],
        on_call: Callable[[dict[str, Any], list[bytes]], None],
        name: str,
        limits: protocol.FrameLimits = protocol.DEFAULT_LIMITS,
        write_deadline: float = 30.0,
    ) -> None:
        self._writer = writer
        self._on_output = on_output
        self._on_call = on_call
        self._limits = limits
        self.write_deadline = write_deadline
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._ops: dict[int, str] = {}  # the op of each request in flight: what its reply must hold
        self._ids = itertools.count(1)
        self.dead = False
        self.fault: str | None = None  # what was wrong with the frame that ended the worker
        self._reader_task = asyncio.create_task(self._read_loop(reader), name=name)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                msg, blobs = await protocol.recv_stream(reader, self._limits)
                self._dispatch(msg, blobs)
        except protocol.ProtocolError as exc:
            self.fault = str(exc)
            self._writer.transport.abort()  # the worker sees its channel close and exits
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # the channel broke: the worker counts as dead
        finally:
            self.dead = True
            why = f"the worker sent a malformed frame ({self.fault})" if self.fault else "worker died"
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(WorkerDied(why))
            self._pending.clear()
            self._ops.clear()

    def _dispatch(self, msg: dict[str, Any], blobs: list[bytes]) -> None:
        """Hand a checked frame on; ``ProtocolError`` for anything the protocol does not allow."""
        frames.check_message(msg, blobs, self._ops)
        op = msg["op"]
        if op == protocol.REPLY:
            del self._ops[msg["id"]]
            fut = self._pending.pop(msg["id"])
            if not fut.done():
                fut.set_result((msg, blobs))
        elif op == protocol.OUTPUT:
            self._on_output(msg)
        else:
            self._on_call(msg, blobs)

    async def send(
        self,
        msg: dict[str, Any],
        blobs: list[bytes] | tuple[bytes, ...] = (),
        *,
        deadline: float | str | None = "default",
    ) -> None:
        """Write one frame. ``TimeoutError`` if the worker has not taken it within the deadline
        (``"default"``: ``write_deadline``; ``None``: as long as the caller waits)."""
        if self.dead:
            return
        limit = self.write_deadline if deadline == "default" else deadline
        try:
            self._writer.write(protocol.encode(msg, blobs))
            await asyncio.wait_for(self._writer.drain(), limit)  # type: ignore[arg-type]
        except (ConnectionError, OSError):
            self.dead = True

    async def request(
        self, op: str, blobs: list[bytes] | tuple[bytes, ...] = (), **fields: Any
    ) -> tuple[int, asyncio.Future[Frame]]:
        """Send a request; the future resolves with the worker's reply (or fails with WorkerDied).
        ``TimeoutError`` if the worker does not take the request within the write deadline."""
        if self.dead:
            raise WorkerDied("worker is not running")
        req_id = next(self._ids)
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        self._ops[req_id] = op
        await self.send({"op": op, "id": req_id, **fields}, blobs)
        return req_id, fut

    async def finished(self) -> None:
        """Wait for the reader to see the channel close (after the process was killed)."""
        with contextlib.suppress(BaseException):
            await self._reader_task

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
