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

from rlm_tui.cli.exit_codes import EXIT_FAILED, EXIT_OK
from rlm_tui.config import Config
from rlm_tui.errors import NotRecorded, StoreError, UsageError, provider_exit_code
from rlm_tui.events import limit_name
from rlm_tui.services.visible import json_safe, visible


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
    from rlm_tui.services.attaching import attach_problem

    checked = []
    for raw in paths:
        path = Path(raw).expanduser()
        problem = attach_problem(path)
        if problem:
            raise UsageError(f"--file {problem}")
        checked.append(path)
    return checked


def readable_size(path: Path) -> str:
    from rlm_tui.services.formatting import file_size

    try:
        return file_size(path.stat().st_size)
    except OSError:
        return "size unknown"


async def run(config: Config, request: AskRequest) -> tuple[int, dict[str, Any]]:
    from rlm_tui.cli.progress import ProgressLine
    from rlm_tui.services.workspace import Workspace

    progress = ProgressLine()
    not_recorded: str | None = None
    workspace = Workspace(config)
    workspace.on_problem = lambda message: progress.say(f"rlm: {message}")
    workspace.bus.subscribe(progress)
    ticker = asyncio.create_task(progress.tick())
    try:
        if request.session is not None:
            await workspace.resume(request.session)
        else:
            await workspace.new_session()
        for path in request.files:
            progress.attach_started(f"{path.name} ({readable_size(path)})", workspace.attach_progress)
            try:
                await workspace.attach(path)
            finally:
                progress.attach_finished()
        session_id = workspace.session.session_id
        try:
            result = await workspace.send(request.question)
        except NotRecorded as exc:  # the answer is shown, but the run failed: exit 1
            not_recorded = str(exc)
            result = exc.result
    except OSError as exc:
        raise StoreError(f"the session could not be opened: {exc}") from None
    finally:
        ticker.cancel()
        progress.clear()
        await workspace.close()  # a new session that never ran a turn leaves nothing behind
    payload = {
        "answer": result.answer,
        "session_id": session_id,
        "turn": result.turn,
        "status": result.status,
        "stopped_by": result.stopped_by,
        "error": result.error,
        "usage": result.usage,
        "duration": round(result.duration, 3),
    }
    if not_recorded is not None:
        payload["error"] = not_recorded
        return EXIT_FAILED, payload
    if result.answer is not None:
        return EXIT_OK, payload
    return provider_exit_code(result.error_kind), payload


def main(config: Config, request: AskRequest) -> int:
    code, payload = asyncio.run(run(config, request))
    if request.json_output:
        print(json_safe(json.dumps(payload, ensure_ascii=False)))
    elif payload["answer"] is not None:
        print(visible(payload["answer"]))
        if payload["stopped_by"]:
            print(f"rlm: stopped by the {limit_name(payload['stopped_by'])}", file=sys.stderr)
    if code == EXIT_FAILED and payload["answer"] is not None and payload["error"]:
        print(visible(f"rlm: {payload['error']}"), file=sys.stderr)  # answered, but not recorded
    elif payload["answer"] is None:
        outcome = {"cancelled": "was cancelled", "stuck": "got stuck"}.get(
            payload["status"], payload["status"]
        )
        print(visible(f"rlm: the turn {outcome}: {payload['error'] or 'no answer'}"), file=sys.stderr)
    return code
