"""How many requests one endpoint gets at once, adapted to its rate limits (``AdaptiveLimit``).

The engine caps sub-calls in flight per model (``max_concurrency``); a provider may allow fewer.
Each 429 it sends halves what this endpoint is given (from what was in flight when the refused
request went out, so a burst of 429s from one overload halves once, not once each), and each
answer given raises it again by about one request per round of answers (additive increase,
multiplicative decrease, as TCP does), back up to the cap. Requests over the limit wait for a
slot instead of being sent to be refused; the retry loop still honours Retry-After.
"""

from __future__ import annotations

import asyncio
from collections import deque

CEILING = 1024  # far above any engine cap: until a 429, the engine's cap is the only one


class AdaptiveLimit:
    def __init__(self, ceiling: int = CEILING) -> None:
        self.ceiling = ceiling
        self.limit = float(ceiling)
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sent = 0  # requests sent so far: which ones a decrease already answered
        self._decreased_at = -1

    async def acquire(self) -> int:
        """Wait for a slot; the request's number, for ``refused``."""
        if self.in_flight < int(self.limit) and not self._waiters:
            self.in_flight += 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # the slot is handed over: already counted in ``in_flight``
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed a slot, then cancelled
                    self.in_flight -= 1
                    self._wake()
                raise
        self._sent += 1
        return self._sent

    def release(self, *, answered: bool) -> None:
        self.in_flight -= 1
        if answered and self.limit < self.ceiling:
            self.limit = min(self.ceiling, self.limit + 1 / max(self.limit, 1.0))
        self._wake()

    def refused(self, sent_as: int) -> None:
        """A 429 for the request numbered ``sent_as``: halve, unless a 429 of a request sent later
        than the last decrease's did so already."""
        if sent_as <= self._decreased_at:
            return
        self.limit = max(1.0, min(self.limit, self.in_flight) / 2)
        self._decreased_at = self._sent

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():  # else: cancelled while it waited
                self.in_flight += 1
                waiter.set_result(None)
