"""The host's end of a worker's socket: framed messages out, replies matched to the requests that
asked for them, and the worker's own frames (a cell's output, a sub-call) handed on.

A channel that breaks or carries garbage marks the worker dead: every request in flight fails
with ``WorkerDied``, and the caller restarts the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from rlm_tui.errors import WorkerDied
from rlm_tui.sandbox import protocol

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
    ) -> None:
        self._writer = writer
        self._on_output = on_output
        self._on_call = on_call
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._ids = itertools.count(1)
        self.dead = False
        self._reader_task = asyncio.create_task(self._read_loop(reader), name=name)

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
            self.dead = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(WorkerDied("worker died"))
            self._pending.clear()

    async def send(self, msg: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
        if self.dead:
            return
        try:
            self._writer.write(protocol.encode(msg, blobs))
            await self._writer.drain()
        except (ConnectionError, OSError):
            self.dead = True

    async def request(
        self, op: str, blobs: list[bytes] | tuple[bytes, ...] = (), **fields: Any
    ) -> tuple[int, asyncio.Future[Frame]]:
        """Send a request; the future resolves with the worker's reply (or fails with WorkerDied)."""
        if self.dead:
            raise WorkerDied("worker is not running")
        req_id = next(self._ids)
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
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
