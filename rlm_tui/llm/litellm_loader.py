"""litellm, imported once, lazily, and off the event loop (``background.BackgroundImport``).

Importing litellm takes seconds, and only the providers that go through it (and litellm's model
map of context windows) need it: the import starts in a background thread when such a client is
built (``start``), and whoever needs litellm waits for that one import: an ``async`` caller without
blocking the event loop (``get``), a synchronous one by blocking (``load``).
``LITELLM_LOCAL_MODEL_COST_MAP=True`` is set before the import, or litellm would fetch its model
map over the network.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any

from rlm_tui.llm.background import BackgroundImport


def _import_litellm() -> Any:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


# looked up when the import runs: a test may hold ``_import_litellm`` back
_import = BackgroundImport("import-litellm", lambda: _import_litellm())


def start() -> Future[Any]:
    """Start importing litellm in a background thread, once; the future of that import."""
    return _import.start()


def load() -> Any:
    """litellm, blocking until it is imported. Not for the event loop: use ``get`` there."""
    return _import.result()


async def get() -> Any:
    """litellm, awaiting its import without blocking the event loop."""
    return await _import.get()


def loaded() -> Any | None:
    """litellm if its import has finished, else None (never waits)."""
    return _import.loaded()
