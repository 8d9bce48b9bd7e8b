"""Events from the engine to the widgets, in batches.

The engine emits events one by one (hundreds a second while a reply streams); the pump collects
them and, at most 30 times a second, applies the batch to the view model and redraws only what
changed. A recorded session goes through the same path, in one batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from rlm_tui.events import Event
from rlm_tui.ui.uninterrupted import whole
from rlm_tui.ui.view_model import Changes, ViewModel

INTERVAL = 1 / 30


class EventPump:
    def __init__(
        self,
        model: ViewModel,
        render: Callable[[Changes], Awaitable[None]],
        schedule: Callable[[float, Callable[[], Awaitable[None]]], object],
    ) -> None:
        self.model = model
        self.render = render
        self.schedule = schedule
        self.pending: list[Event] = []
        self._scheduled = False
        self._lock = asyncio.Lock()
        self.paused = False

    def __call__(self, event: Event) -> None:
        self.pending.append(event)
        if not self._scheduled and not self.paused:
            self._scheduled = True
            self.schedule(INTERVAL, self.flush)

    async def flush(self) -> None:
        self._scheduled = False
        async with self._lock:  # batches render in order, one at a time
            if not self.pending:
                return
            events, self.pending = self.pending, []
            changes = self.model.apply_all(events)
            if changes:
                await whole(self.render(changes))  # a batch is drawn whole or not at all
