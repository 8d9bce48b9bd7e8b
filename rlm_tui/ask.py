"""``rlm ask``: one turn without the TUI. The answer goes to stdout (or one JSON object with
--json); progress goes to stderr when it is a terminal. Exit codes: 0 an answer, 1 the turn
failed, 2 a usage or config error (including a provider refusing the key or the model name)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.config import Config, ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CONFIG_FAILURES = ("auth", "not_found")


@dataclass
class AskRequest:
    question: str
    files: list[Path] = field(default_factory=list)
    json_output: bool = False
    session: str | None = None  # resume this recorded session (id or unique prefix)


def read_question(arg: str | None) -> str:
    if arg is None:
        raise ConfigError("give a question, or - to read it from stdin")
    if arg == "-":
        text = sys.stdin.read()
        if not text.strip():
            raise ConfigError("the question read from stdin is empty")
        return text
    if not arg.strip():
        raise ConfigError("the question is empty")
    return arg


def check_files(paths: list[str]) -> list[Path]:
    checked = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise ConfigError(f"--file {raw}: no such file or folder")
        if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
            raise ConfigError(f"--file {raw}: permission denied")
        if path.is_file():
            try:
                with open(path, "rb") as fh:
                    fh.read(1)
            except OSError as exc:
                raise ConfigError(f"--file {raw}: cannot be read ({exc.strerror or exc})") from None
        checked.append(path)
    return checked


async def run(config: Config, request: AskRequest) -> tuple[int, dict[str, Any]]:
    from rlm_tui.events import EventBus
    from rlm_tui.progress import ProgressLine
    from rlm_tui.resume import open_session
    from rlm_tui.runtime import make_router
    from rlm_tui.store.sessions import Store, UnknownSession

    store = Store.default()
    bus = EventBus()
    progress = ProgressLine()
    bus.subscribe(progress)
    try:
        opened = await open_session(config, make_router(config), store, bus, session_id=request.session)
    except UnknownSession as exc:
        store.close()
        raise ConfigError(str(exc)) from None
    session = opened.session
    try:
        for path in request.files:
            await session.attach(path)
        result = await session.run_turn(request.question)
    finally:
        progress.clear()
        await session.close()
        store.close()
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
    try:
        code, payload = asyncio.run(run(config, request))
    except ConfigError as exc:
        print(f"rlm: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if request.json_output:
        print(json.dumps(payload, ensure_ascii=False))
    elif payload["answer"] is not None:
        print(payload["answer"])
        if payload["stopped_by"]:
            print(f"rlm: stopped by the {payload['stopped_by']} limit", file=sys.stderr)
    if payload["answer"] is None:
        print(f"rlm: the turn {payload['status']}: {payload['error'] or 'no answer'}", file=sys.stderr)
    return code
