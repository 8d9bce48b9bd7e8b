"""The modules the app needs once a session opens, imported in a worker thread right after the
first frame.

Imported on the event loop (lazily, where first used), they froze the editor: on a first launch,
when Python still compiles every module, keys echoed seconds late and the first turn waited on
them. Imported here, in a thread, the loop keeps drawing and taking keys; when the session code
then imports them, they are already loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

HEAVY = (
    "rlm_tui.services.opening",  # the engine, the sandbox host, the recorder
    "rlm_tui.services.runtime",  # the router and the model clients
    "rlm_tui.services.catalog",  # the store, sqlite
    "rlm_tui.ui.screens.sessions",
    "rlm_tui.ui.screens.detail",
    "rlm_tui.ui.screens.help",
)


def warm_imports() -> None:
    """Import the session's machinery and the screens opened later. Runs in a thread: nothing
    here touches the app."""
    for name in HEAVY:
        importlib.import_module(name)


def in_background(function: Callable[[], T]) -> asyncio.Future[T]:
    """``function()`` in a daemon thread, as a future of the running loop.

    Not ``asyncio.to_thread``: the loop's executor is waited for when the app ends, so quitting
    while the provider SDKs still load (seconds, on a first launch) waited for them."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value = function()
        except BaseException as exc:  # handed to the awaiting side, as to_thread would
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(settle, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(
        target=run, name=f"rlm-{getattr(function, '__name__', 'background')}", daemon=True
    ).start()
    return future


def freeze_long_lived() -> None:
    """Exempt what exists once the app has started (Textual, the SDKs, the session's modules:
    hundreds of thousands of objects that live as long as the process) from the garbage
    collector's full passes. Each full pass walked all of them, ~300 ms on a long chat, which
    landed on whatever key was being handled (F4 took 400 ms at random). Cycles among these
    objects are never collected afterwards; they are the app's own modules and screens. Once
    per process: the ``rlm`` command runs one app; a test run starts many, and freezing each
    would keep every finished one alive."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


_frozen = False
