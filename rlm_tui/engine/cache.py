"""The session's sub-call cache: identical calls share one answer, even while it is in flight.

An entry is the future of the call that is making it (the holder), named by its node id. A caller
that finds an in-flight entry waits on it, unless that wait could never end: the caller is inside
the holder's own tree (a child RLM asking its parent's question, whose answer waits on that very
child), or, more generally, the holder is itself waiting, through a chain of such waits, on a call
the caller is inside. Such a caller makes its own call instead; recursion stays bounded by
``max_depth``. The waits in progress are kept here so the chain can be followed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from rlm_tui.events import nodes


@dataclass(frozen=True)
class Entry:
    future: asyncio.Future
    holder: str  # the node id of the call making it


class CallCache:
    """An LRU of call futures by key, and which waiting call waits on which holder."""

    def __init__(self, entries: int = 4096) -> None:
        self.entries = entries
        self._items: OrderedDict[tuple, Entry] = OrderedDict()
        self._waits: dict[str, str] = {}  # waiter node -> holder node, while it waits

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def get(self, key: tuple) -> Entry | None:
        entry = self._items.get(key)
        if entry is not None:
            self._items.move_to_end(key)
        return entry

    def put(self, key: tuple, future: asyncio.Future, holder: str) -> None:
        self._items[key] = Entry(future, holder)
        while len(self._items) > self.entries:
            self._items.popitem(last=False)

    def drop(self, key: tuple, future: asyncio.Future) -> None:
        """Forget a failed call, unless the key already holds a newer one."""
        entry = self._items.get(key)
        if entry is not None and entry.future is future:
            del self._items[key]

    def can_wait(self, waiter: str, entry: Entry) -> bool:
        """Whether ``waiter`` may wait on ``entry``: done, or in flight and not (through any chain
        of waits) waiting on a call that ``waiter`` is part of."""
        if entry.future.done():
            return True
        seen: set[str] = set()
        holders = [entry.holder]
        while holders:
            holder = holders.pop()
            if nodes.within(waiter, holder):
                return False  # the holder's answer depends on the waiter's own cell
            if holder in seen:
                continue
            seen.add(holder)
            holders.extend(held for w, held in self._waits.items() if nodes.within(w, holder))
        return True

    @contextlib.contextmanager
    def waiting(self, waiter: str, holder: str) -> Iterator[None]:
        """Mark ``waiter`` as waiting on ``holder`` for the length of the block."""
        self._waits[waiter] = holder
        try:
            yield
        finally:
            self._waits.pop(waiter, None)
