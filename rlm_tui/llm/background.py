"""A slow import (litellm: seconds; the price table: a tenth of a second), run once, in a thread
of its own, so neither the event loop nor start-up waits for it. Whoever needs the module waits
for that one import: an ``async`` caller without blocking the loop (``get``), a synchronous one by
blocking (``result``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class BackgroundImport:
    def __init__(self, name: str, load: Callable[[], Any]) -> None:
        self.name = name
        self.load = load  # looked up at start: a test may swap it before the first start
        self._lock = threading.Lock()
        self._future: Future[Any] | None = None

    def start(self) -> Future[Any]:
        """Start the import (once); the future of that import."""
        with self._lock:
            if self._future is None:
                self._future = Future()
                # Running, so that a cancelled waiter cannot cancel the one shared import.
                self._future.set_running_or_notify_cancel()
                threading.Thread(target=self._run, args=(self._future,), name=self.name, daemon=True).start()
            return self._future

    def _run(self, future: Future[Any]) -> None:
        try:
            future.set_result(self.load())
        except BaseException as exc:  # an ImportError, or anything raised at import
            future.set_exception(exc)

    def result(self) -> Any:
        """The module, blocking until it is imported. Not for the event loop: ``get`` there."""
        return self.start().result()

    async def get(self) -> Any:
        future = self.start()
        if future.done():
            return future.result()
        return await asyncio.wrap_future(future)

    def loaded(self) -> Any | None:
        """The module if its import has finished well, else None (never waits)."""
        future = self._future
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result()
