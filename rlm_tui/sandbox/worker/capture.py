"""Capture of a cell's stdout and stderr, streamed to the host as it is written.

Text is buffered briefly and sent in chunks (at most every 50 ms, or at 8 KB), so a cell that
prints a line and then works for a minute shows that line at once, and a cell that prints a
million lines does not send a million frames (nor one frame over the host's limit: a long text
goes in pieces). Past the hard cap, text is dropped and counted.
"""

from __future__ import annotations

import io
import threading
import time

from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.worker.channel import Channel

FLUSH_BYTES = 8192
FLUSH_SECONDS = 0.05
FRAME_CHARS = 1 << 20  # at most 6 MB of JSON a frame, whatever the cap


class OutputCapture:
    def __init__(self, channel: Channel, cap_chars: int) -> None:
        self._channel = channel
        self.cap_chars = cap_chars
        self._lock = threading.Lock()
        self._chunks: list[tuple[str, str]] = []
        self._buffered = 0
        self.cell: str | None = None
        self.total = 0
        self.dropped = 0
        threading.Thread(target=self._tick, name="rlm-output", daemon=True).start()

    def begin(self, cell: str) -> None:
        with self._lock:
            self._flush_locked()
            self.cell = cell
            self.total = 0
            self.dropped = 0

    def end(self) -> tuple[int, int]:
        with self._lock:
            self._flush_locked()
            self.cell = None
            return self.total, self.dropped

    def write(self, stream: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            room = self.cap_chars - self.total
            if room <= 0:
                self.dropped += len(text)
                return
            if len(text) > room:
                self.dropped += len(text) - room
                text = text[:room]
            self.total += len(text)
            if self._chunks and self._chunks[-1][0] == stream:
                self._chunks[-1] = (stream, self._chunks[-1][1] + text)
            else:
                self._chunks.append((stream, text))
            self._buffered += len(text)
            if self._buffered >= FLUSH_BYTES:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._chunks:
            return
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        for stream, text in chunks:
            for at in range(0, len(text), FRAME_CHARS):  # each frame well within the host's limit
                piece = text[at : at + FRAME_CHARS]
                self._channel.send(
                    {"op": protocol.OUTPUT, "cell": self.cell, "stream": stream, "text": piece}
                )

    def _tick(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            if self._chunks:
                try:
                    self.flush()
                except OSError:
                    return


class CaptureStream(io.TextIOBase):
    """A text stream that feeds an OutputCapture; installed as sys.stdout / sys.stderr."""

    def __init__(self, capture: OutputCapture, name: str) -> None:
        super().__init__()
        self._capture = capture
        self._name = name

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        self._capture.write(self._name, s)
        return len(s)

    def flush(self) -> None:
        pass


class FdCapture:
    """Routes file descriptors 1 and 2 (C code, os.system, child processes) into the capture.

    A reader thread moves the pipe's bytes into the OutputCapture; at the end of a cell the main
    thread drains what is left, so output a subprocess wrote before the cell ended belongs to it.
    """

    def __init__(self, capture: OutputCapture) -> None:
        import codecs
        import os

        self._os = os
        self._capture = capture
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lock = threading.Lock()
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._fd = read_fd
        threading.Thread(target=self._pump, name="rlm-fd-output", daemon=True).start()

    def _pump(self) -> None:
        import select

        while True:
            select.select([self._fd], [], [])
            with self._lock:
                self._read_available()

    def _read_available(self) -> None:
        import select

        while select.select([self._fd], [], [], 0)[0]:
            data = self._os.read(self._fd, 65536)
            if not data:
                return
            self._capture.write("stdout", self._decoder.decode(data))

    def drain(self) -> None:
        with self._lock:
            self._read_available()
