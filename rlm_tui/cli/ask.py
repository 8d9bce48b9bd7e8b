"""``rlm ask``: one turn without the TUI. The answer goes to stdout (or one JSON object with
--json); progress goes to stderr when it is a terminal. Exit codes: 0 an answer, 1 the turn
failed, 2 a usage or config error (including a provider refusing the key or the model name)."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from rlm_tui.config import Config
from rlm_tui.errors import StoreError, UsageError

CONFIG_FAILURES = ("auth", "not_found")


@dataclass
class AskRequest:
    question: str
    files: list[Path] = field(default_factory=list)
    json_output: bool = False
    session: str | None = None  # resume this recorded session (id or unique prefix)


def read_question(arg: str | None) -> str:
    if arg is None:
        raise UsageError("give a question, or - to read it from stdin")
    if arg == "-":
        text = sys.stdin.read()
        if not text.strip():
            raise UsageError("the question read from stdin is empty")
        return text
    if not arg.strip():
        raise UsageError("the question is empty")
    return arg


def check_files(paths: list[str]) -> list[Path]:
    from rlm_tui.services.opening import attach_problem

    checked = []
    for raw in paths:
        path = Path(raw).expanduser()
        problem = attach_problem(path)
        if problem:
            raise UsageError(f"--file {problem}")
        checked.append(path)
    return checked


async def run(config: Config, request: AskRequest) -> tuple[int, dict[str, Any]]:
    from rlm_tui.cli.progress import ProgressLine
    from rlm_tui.events import EventBus
    from rlm_tui.services.catalog import Catalog
    from rlm_tui.services.opening import open_session
    from rlm_tui.services.runtime import make_router

    catalog = Catalog.open()
    progress = ProgressLine()
    bus = EventBus(on_error=lambda exc: progress.say(f"rlm: could not record the session: {exc}"))
    bus.subscribe(progress)
    try:
        opened = await open_session(
            config, make_router(config), catalog.store, bus, session_id=request.session
        )
    except OSError as exc:
        catalog.close()
        raise StoreError(f"the session could not be opened: {exc}") from None
    except BaseException:
        catalog.close()
        raise
    session = opened.session
    ticker = asyncio.create_task(progress.tick())
    try:
        for path in request.files:
            await session.attach(path)
        result = await session.run_turn(request.question)
    finally:
        ticker.cancel()
        progress.clear()
        await opened.close()
        catalog.close()
    payload = {
        "answer": result.answer,
        "session_id": session.session_id,
        "turn": result.turn,
        "status": result.status,
        "stopped_by": result.stopped_by,
        "error": result.error,
        "usage": result.usage,
        "duration": round(result.duration, 3),
    }
    if result.answer is not None:
        return EXIT_OK, payload
    return (EXIT_USAGE if result.error_kind in CONFIG_FAILURES else EXIT_FAILED), payload


def main(config: Config, request: AskRequest) -> int:
    code, payload = asyncio.run(run(config, request))
    if request.json_output:
        print(json.dumps(payload, ensure_ascii=False))
    elif payload["answer"] is not None:
        print(payload["answer"])
        if payload["stopped_by"]:
            print(f"rlm: stopped by the {payload['stopped_by']} limit", file=sys.stderr)
    if payload["answer"] is None:
        print(f"rlm: the turn {payload['status']}: {payload['error'] or 'no answer'}", file=sys.stderr)
    return code
