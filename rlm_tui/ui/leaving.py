"""Quitting fast, and cleanly.

Ctrl+Q used to take ~300 ms to give the terminal back: Textual unmounts every widget one by one
and waits for its key-reading thread (which polls every 100 ms) before restoring the terminal.
By the time the app quits, everything that matters is done (the session closed, its records
written), so the terminal is restored at once and the process ends; ``rlm`` ends its process the
same way after the app returns (``cli.main``), so nothing ran after this anyway.

Under a test harness (headless) the app keeps Textual's own teardown, and ``stop_workers`` makes
that teardown orderly: our workers end before the widgets they draw into are removed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

WORKERS_GRACE = 2.0  # seconds a cancelled worker has to end (each ends at its next await)


def leave_now(app: Any) -> None:
    """Restore the terminal as Textual would and end the process with status 0.

    Textual's ``stop_application_mode`` joins the key thread (up to 100 ms); with the thread
    detached first it only writes the reset sequences and restores the tty modes. The writer
    thread is then drained (``close``), so the reset reaches the terminal before the exit."""
    driver = app._driver
    try:
        if driver is not None:
            if hasattr(driver, "_key_thread"):
                driver._key_thread = None  # not waited for: the process ends right after
            driver.stop_application_mode()
            driver.close()
    except Exception:  # the usual teardown still restores the terminal
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


async def stop_workers(app: Any) -> None:
    """Cancel the app's running workers and wait (briefly) until each has ended."""
    running = [worker for worker in app.workers if not worker.is_finished]
    for worker in running:
        worker.cancel()

    async def ended(worker: Any) -> None:
        try:
            await worker.wait()
        except Exception:  # cancelled or failed: either way it has ended
            pass

    if running:
        await asyncio.wait([asyncio.ensure_future(ended(w)) for w in running], timeout=WORKERS_GRACE)
