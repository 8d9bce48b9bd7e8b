"""``Remembered``: each key's value worked out once, by one task that every caller asking for it
meanwhile waits for, then kept for good or for as long as the value says (the router's endpoint
probes and model limits: a server that did not answer is asked again later).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """Each key's value, worked out once and remembered; callers that ask while it is being worked
    out wait for that same work. ``ask_again_after(value)`` gives the seconds a value holds (None:
    for good)."""

    def __init__(
        self, make: Callable[[K], Awaitable[V]], ask_again_after: Callable[[V], float | None]
    ) -> None:
        self._make = make
        self._ask_again_after = ask_again_after
        self._entries: dict[K, tuple[asyncio.Task[V], float | None]] = {}

    async def get(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        entry = self._entries.get(key)
        if entry is not None:
            task, until = entry
            if not task.done():
                if task.get_loop() is loop:
                    return await asyncio.shield(task)
            elif (
                not task.cancelled()
                and task.exception() is None
                and (until is None or time.monotonic() < until)
            ):
                return task.result()
        task = loop.create_task(self._work(key))
        self._entries[key] = (task, None)
        return await asyncio.shield(task)

    async def _work(self, key: K) -> V:
        value = await self._make(key)
        seconds = self._ask_again_after(value)
        entry = self._entries.get(key)
        if seconds is not None and entry is not None and entry[0] is asyncio.current_task():
            self._entries[key] = (entry[0], time.monotonic() + seconds)
        return value

    def forget(self) -> None:
        self._entries.clear()
