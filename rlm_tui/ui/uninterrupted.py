"""Drawing steps that a cancellation does not cut in half."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def whole(step: Awaitable[None]) -> None:
    """Run a drawing step to its end even if the task awaiting it is cancelled meanwhile; the
    cancellation then goes on from there.

    Textual removes a widget by gathering its pruning tasks: cancelling whoever awaits the removal
    cancels those tasks, and the widget's parent then fails to close (a ``CancelledError`` out of
    the app's teardown when a worker was stopped mid-redraw at quit)."""
    task = asyncio.ensure_future(step)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await task
        raise
