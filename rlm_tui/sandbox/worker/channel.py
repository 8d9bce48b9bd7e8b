"""The worker's end of the host channel.

A reader thread owns the receiving side: it resolves the futures of sub-calls that model code is
waiting on, acts on interrupts at once, and queues every other request for the main thread. So a
cell blocked in ``llm_query`` (or busy in a loop) never stops the channel from being read.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import threading
from concurrent.futures import Future
from typing import Any

from rlm_tui.sandbox import protocol


class SubCallFailed(Exception):
    """Raised in model code when the host reports a sub-call error."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._send_lock = threading.Lock()
        self._calls: dict[int, Future] = {}
        self._calls_lock = threading.Lock()
        self._next_call = 0
        self.requests: queue.Queue[tuple[dict[str, Any], list[bytes]]] = queue.Queue()
        self.running_cell: str | None = None  # set by the main thread while a cell executes
        self.error_types: dict[str, type[Exception]] = {}
        self._main_ident = threading.main_thread().ident
        # ops answered on the reader thread itself (starting a child worker while a cell waits
        # on it): op -> handler(msg, blobs)
        self.inline: dict[str, Any] = {}

    def send(self, msg: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
        data = protocol.encode(msg, blobs)
        # An interrupt landing inside sendall would leave half a frame on the channel: hold SIGINT
        # back while sending from the main thread; it is delivered right after.
        main = threading.get_ident() == self._main_ident
        if main:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with self._send_lock:
                self._sock.sendall(data)
        finally:
            if main:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def reply(self, req_id: int, **fields: Any) -> None:
        self.send({"op": protocol.REPLY, "id": req_id, **fields})

    def call(self, fn: str, args: dict[str, Any], blobs: list[bytes] | None = None) -> Future:
        """Ask the host to run a sub-call; the returned future resolves when the host answers."""
        fut: Future = Future()
        with self._calls_lock:
            self._next_call += 1
            call_id = self._next_call
            self._calls[call_id] = fut
        self.send(
            {"op": protocol.CALL, "id": call_id, "fn": fn, "args": args, "cell": self.running_cell},
            blobs or (),
        )
        return fut

    def start_reader(self) -> None:
        threading.Thread(target=self._read_loop, name="rlm-channel", daemon=True).start()

    def _read_loop(self) -> None:
        try:
            while True:
                msg, blobs = protocol.recv_blocking(self._sock)
                op = msg.get("op")
                if op == protocol.RESULT:
                    self._resolve(msg)
                elif op == protocol.INTERRUPT:
                    self._interrupt(msg.get("cell"))
                elif op in self.inline:
                    self.inline[op](msg, blobs)
                else:
                    self.requests.put((msg, blobs))
        except (EOFError, OSError):
            pass
        # The host is gone: nobody can read our results, so stop at once.
        os._exit(0)

    def _resolve(self, msg: dict[str, Any]) -> None:
        with self._calls_lock:
            fut = self._calls.pop(msg["id"], None)
        if fut is None or fut.done():
            return
        if msg.get("ok"):
            fut.set_result(msg.get("value"))
        else:
            exc_type = self.error_types.get(msg.get("error_type", ""), SubCallFailed)
            fut.set_exception(exc_type(msg.get("error", "sub-call failed")))

    def _interrupt(self, cell: str | None) -> None:
        if cell is not None and cell == self.running_cell:
            # A real signal (not _thread.interrupt_main) so blocking calls like time.sleep wake.
            signal.pthread_kill(self._main_ident, signal.SIGINT)
