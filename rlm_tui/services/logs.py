"""Trajectory logs of other tools (and our own event log): read as events for the viewer, and a
fast-rlm log's cells re-run in our REPL for ``rlm replay``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlm_tui.errors import UsageError
from rlm_tui.events import Event


def _existing(path: Path) -> Path:
    """The log, if it is a regular file (a FIFO or a device would be read forever)."""
    from rlm_tui.services.attaching import not_regular

    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"no such log file: {path}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    kind = not_regular(st, folders=False)
    if kind:
        raise UsageError(f"{path} is {kind}, not a log file")
    return path


def _binary(path: Path, exc: UnicodeDecodeError) -> UsageError:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return UsageError(f"{path} is a binary file, not a log (byte 0x{byte} is not UTF-8 text)")


def load_log(path: Path) -> list[Event]:
    """A log of any format rlm knows, as events (``UsageError`` for anything else)."""
    from rlm_tui.trajectories.convert import load_events

    try:
        return load_events(_existing(path))
    except UnicodeDecodeError as exc:
        raise _binary(path, exc) from None


async def replay_log(path: Path, cell_timeout: float) -> Any:  # -> ReplayReport
    """Re-run a fast-rlm log's root cells in a fresh worker and compare their outputs."""
    from rlm_tui.trajectories.convert import LogFormatError, detect
    from rlm_tui.trajectories.replay import replay

    try:
        kind = detect(_existing(path))
    except UnicodeDecodeError as exc:
        raise _binary(path, exc) from None
    except LogFormatError as exc:
        raise UsageError(f"{exc}; replay takes a fast-rlm JSONL log") from None
    if kind != "fast-rlm":
        other = "an official rlm" if kind == "official" else "an rlm-tui event"
        raise UsageError(
            f"{path} is {other} log; replay takes a fast-rlm JSONL log (rlm view opens the others)"
        )
    try:
        return await replay(path, cell_timeout=cell_timeout)
    except UnicodeDecodeError as exc:
        raise _binary(path, exc) from None
    except (json.JSONDecodeError, KeyError, ValueError) as exc:
        raise UsageError(f"{path} is not a fast-rlm JSONL log ({type(exc).__name__}: {exc})") from None
