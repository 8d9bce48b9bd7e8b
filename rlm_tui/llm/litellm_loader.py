"""litellm, imported once, lazily, and off the event loop.

Importing litellm takes seconds, and every model needs it (all prices come from it). So the import
starts in a background thread as soon as a model client is built (``start``), and whoever needs
litellm waits for that one import: an ``async`` caller without blocking the event loop (``get``),
a synchronous one by blocking (``load``). ``LITELLM_LOCAL_MODEL_COST_MAP=True`` is set before the
import, or litellm would fetch a price list over the network.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Future
from typing import Any

_lock = threading.Lock()
_import: Future[Any] | None = None


def _import_litellm() -> Any:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def _run(future: Future[Any]) -> None:
    try:
        future.set_result(_import_litellm())
    except BaseException as exc:  # an ImportError, or anything litellm raises at import
        future.set_exception(exc)


def start() -> Future[Any]:
    """Start importing litellm in a background thread, once; the future of that import."""
    global _import
    with _lock:
        if _import is None:
            _import = Future()
            # Running, so that a cancelled waiter (``get``) cannot cancel the one shared import.
            _import.set_running_or_notify_cancel()
            threading.Thread(target=_run, args=(_import,), name="import-litellm", daemon=True).start()
        return _import


def load() -> Any:
    """litellm, blocking until it is imported. Not for the event loop: use ``get`` there."""
    return start().result()


async def get() -> Any:
    """litellm, awaiting its import without blocking the event loop."""
    future = start()
    if future.done():
        return future.result()
    return await asyncio.wrap_future(future)


def loaded() -> Any | None:
    """litellm if its import has finished, else None (never waits)."""
    future = _import
    if future is None or not future.done() or future.exception() is not None:
        return None
    return future.result()
