"""A chat session: one root REPL worker and its turns.

``run_turn`` builds the root prompt from the variable table and the new message only (earlier
turns live in ``history`` inside the REPL), runs the root RLM, appends the exchange to ``history``,
and snapshots the REPL. Every step is an event on the spine.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.engine import prompts
from rlm_tui.engine.context import SessionShared, TurnCancelled, TurnContext
from rlm_tui.engine.rlm import RLMRun
from rlm_tui.engine.settings import EngineSettings
from rlm_tui.events import AnswerReady, Error, EventSink, Notice, TurnFinished, TurnStarted, turn_outcome_text
from rlm_tui.llm.base import ModelClient, ModelError
from rlm_tui.sandbox.host import Worker, WorkerDied, WorkerStartError
from rlm_tui.sandbox.snapshot import Snapshot


@dataclass
class TurnResult:
    turn: int
    status: str  # ok | stopped | cancelled | failed
    answer: str | None
    stopped_by: str | None
    usage: dict[str, Any]
    duration: float
    error: str | None = None
    error_kind: str | None = None  # for a failed turn: the ModelError kind (auth, not_found, ...)


@dataclass
class Attachment:
    """A file or folder in the REPL, kept by reference: what resuming a session needs to check."""

    name: str
    path: str
    type: str
    size: int  # chars (text), bytes (binary) or files (folder), as loaded
    as_context: bool = True
    disk_bytes: int = 0
    mtime: float = 0.0
    digest: str = ""  # blake2b of the file (of the listing for a folder)


def fingerprint(path: Path) -> tuple[int, float, str]:
    """(bytes on disk, mtime, blake2b hex) of a file, or of a folder's listing of sizes and mtimes."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    if path.is_dir():
        total, latest = 0, path.stat().st_mtime
        for item in sorted(path.rglob("*")):
            if item.is_file() and not any(part.startswith(".") for part in item.relative_to(path).parts):
                st = item.stat()
                total += st.st_size
                latest = max(latest, st.st_mtime)
                digest.update(f"{item.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return total, latest, digest.hexdigest()
    st = path.stat()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return st.st_size, st.st_mtime, digest.hexdigest()


SnapshotSink = Callable[[int, Snapshot, dict[str, Attachment], "str | None"], None]


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


@dataclass
class SessionState:
    """What a session carries between turns (and what resuming it restores)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0


class Session:
    def __init__(
        self,
        settings: EngineSettings,
        client: ModelClient,
        emit: EventSink | None = None,
        *,
        session_id: str | None = None,
        workdir: str | os.PathLike | None = None,
        state: SessionState | None = None,
        snapshot_sink: SnapshotSink | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.emit: EventSink = emit or (lambda event: None)
        self.session_id = session_id or new_session_id()
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rlm-session-"))
        self.state = state or SessionState()
        self.shared = SessionShared(settings.limits.max_concurrency)
        self.worker = Worker(self.workdir, settings.sandbox)
        self.attachments: dict[str, Attachment] = {}
        self.snapshots: dict[int, Snapshot] = {}
        self.snapshot_sink = snapshot_sink
        self.context_text: str | None = None  # `context` when it holds a long message, not a file
        self._ctx: TurnContext | None = None

    @property
    def turns(self) -> int:
        return self.state.turns

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.state.history

    @property
    def running(self) -> bool:
        return self._ctx is not None

    async def start(self, snapshot: Snapshot | None = None) -> dict[str, str]:
        """Start the REPL; with a snapshot, restore its variables. Returns what failed to restore."""
        await self.worker.start()
        await self.worker.set_vars(history=self.state.history)
        failed: dict[str, str] = {}
        if snapshot is not None:
            failed = await self.worker.restore(snapshot)
        return failed

    async def attach(
        self, path: str | os.PathLike, name: str | None = None, *, as_context: bool = True
    ) -> Attachment:
        """Load a file or folder into ``files[name]`` (and ``context``); the worker reads it from disk."""
        resolved = Path(path).expanduser()
        if not resolved.exists():
            raise FileNotFoundError(f"no such file or folder: {resolved}")
        if not os.access(resolved, os.R_OK):
            raise PermissionError(f"cannot read {resolved}: permission denied")
        name = name or resolved.name
        disk_bytes, mtime, digest = await asyncio.to_thread(fingerprint, resolved)
        try:
            info = await self.worker.load_file(name, resolved, as_context=as_context)
        except RuntimeError as exc:
            raise OSError(f"could not load {resolved}: {exc}") from exc
        attachment = Attachment(
            name,
            str(resolved.resolve()),
            info["type"] or "",
            info["size"] or 0,
            as_context,
            disk_bytes,
            mtime,
            digest,
        )
        self.attachments[name] = attachment
        if as_context:
            self.context_text = None
        return attachment

    async def set_context_text(self, text: str, description: str) -> None:
        """Put a long message in ``context`` (also how a resumed session gets it back)."""
        self.context_text = text
        await self.worker.set_vars(context=text, describe={"context": description})

    def cancel(self) -> bool:
        """Cancel the running turn (Esc). Work done so far is kept. Returns whether one was running."""
        if self._ctx is None:
            return False
        self._ctx.cancel()
        return True

    async def run_turn(self, message: str) -> TurnResult:
        if self._ctx is not None:
            raise RuntimeError("a turn is already running in this session")
        self.state.turns += 1
        turn = self.state.turns
        node = f"t{turn}"
        settings = self.settings
        ctx = TurnContext(
            session_id=self.session_id,
            turn=turn,
            settings=settings,
            client=self.client,
            emit=self.emit,
            shared=self.shared,
            workdir=self.workdir,
        )
        ctx.workers.add(self.worker)
        self._ctx = ctx
        started = time.perf_counter()
        ctx.event(
            TurnStarted,
            node,
            None,
            user_message=message,
            root_model=settings.root_model,
            sub_model=settings.sub_model,
            attachments=list(self.attachments),
        )
        answer: str | None = None
        stopped_by: str | None = None
        error: str | None = None
        error_kind: str | None = None
        status = "ok"
        try:
            long_message = len(message) > settings.inline_message_chars
            if long_message:
                await self.set_context_text(
                    message, f"the user's long message of turn {turn} ({len(message):,} chars)"
                )
            table, _ = await self.worker.var_table()
            run = RLMRun(
                ctx,
                self.worker,
                depth=0,
                node=node,
                parent=None,
                model=settings.root_model,
                first_message=prompts.turn_message(
                    turn=turn, var_table=table, message=message, long_message=long_message
                ),
            )
            outcome = await run.run()
            answer, stopped_by = outcome.answer, outcome.stopped_by
            status = "stopped" if stopped_by else "ok"
        except TurnCancelled:
            status = "cancelled"
        except ModelError as exc:
            status, error, error_kind = "failed", str(exc), exc.kind
        except (WorkerStartError, WorkerDied) as exc:
            status, error = "failed", f"the REPL worker failed: {exc}"
        finally:
            self._ctx = None
        if error:
            ctx.event(Error, node, None, message=error, where="model" if status == "failed" else "engine")
        if answer is not None:
            ctx.event(AnswerReady, node, None, answer=answer, stopped_by=stopped_by)
        await self._record_exchange(ctx, node, turn, message, turn_outcome_text(status, answer, error))
        usage = ctx.tally.to_dict()
        duration = time.perf_counter() - started
        ctx.event(
            TurnFinished,
            node,
            None,
            status=status,
            usage=usage,
            duration=duration,
            stopped_by=stopped_by,
            error=error,
        )
        return TurnResult(turn, status, answer, stopped_by, usage, duration, error, error_kind)

    async def _record_exchange(
        self, ctx: TurnContext, node: str, turn: int, message: str, answer: str
    ) -> None:
        entries = [
            {"role": "user", "content": message, "turn": turn},
            {"role": "assistant", "content": answer, "turn": turn},
        ]
        self.state.history.extend(entries)
        try:
            await self.worker.append_vars(history=entries)
            self.snapshots[turn] = await self.worker.take_snapshot()
            if self.snapshot_sink is not None:
                self.snapshot_sink(turn, self.snapshots[turn], dict(self.attachments), self.context_text)
        except (RuntimeError, WorkerDied) as exc:
            ctx.event(
                Notice, node, None, kind="sandbox", message=f"could not update the REPL after the turn: {exc}"
            )

    async def close(self) -> None:
        if self._ctx is not None:
            self._ctx.cancel()
        await self.worker.close()

    async def __aenter__(self) -> Session:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
