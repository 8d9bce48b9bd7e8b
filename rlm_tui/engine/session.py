"""A chat session: one root REPL and its turns.

``run_turn`` builds the root prompt from the variable table and the new message only (earlier
turns live in ``history`` inside the REPL), runs the root RLM, appends the exchange to ``history``,
and snapshots the REPL. Every step is an event on the spine.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.engine import prompts
from rlm_tui.engine.attachments import Attachment, fingerprint, readable_problem
from rlm_tui.engine.children import run_child
from rlm_tui.engine.context import SessionShared, TurnContext
from rlm_tui.engine.repl import REPL, REPLFactory
from rlm_tui.engine.rlm import RLMRun
from rlm_tui.engine.settings import EngineSettings
from rlm_tui.errors import AttachmentError, ProviderError, SandboxError, SessionBusy, TurnCancelled, TurnStuck
from rlm_tui.events import (
    AnswerReady,
    Error,
    EventSink,
    Notice,
    TurnFinished,
    TurnStarted,
    TurnStatus,
    nodes,
    turn_outcome_text,
)
from rlm_tui.events.text import utf8_safe
from rlm_tui.llm.base import ModelClient
from rlm_tui.sandbox.snapshot import Snapshot

# ("file", name) when `context` is an attached file, ("text", message) when a long message
ContextSource = tuple[str, str]
SnapshotSink = Callable[[int, Snapshot, list[Attachment], "ContextSource | None"], None]


@dataclass
class TurnResult:
    turn: int
    status: TurnStatus
    answer: str | None
    stopped_by: str | None
    usage: dict[str, Any]
    duration: float
    error: str | None = None
    error_kind: str | None = None  # for a failed turn: the ProviderError kind (auth, not_found, ...)


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time())) + "-" + uuid.uuid4().hex[:6]


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
        repl_factory: REPLFactory,
        session_id: str | None = None,
        workdir: str | Path | None = None,
        state: SessionState | None = None,
        snapshot_sink: SnapshotSink | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.emit: EventSink = emit or (lambda event: None)
        self.session_id = session_id or new_session_id()
        self._own_workdir = workdir is None  # a folder we made is ours to remove
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rlm-session-"))
        self.state = state or SessionState()
        self.shared = SessionShared(settings.limits.max_concurrency)
        self.repl_factory = repl_factory
        self.repl: REPL = repl_factory(self.workdir, settings.sandbox)
        self.attachments: dict[str, Attachment] = {}  # in the order attached
        self.context_source: ContextSource | None = None
        self.last_snapshot: Snapshot | None = None
        self.notes_for_model: list[str] = []  # told to the model with the next message, then dropped
        self.snapshot_sink = snapshot_sink
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
        await self.repl.start()
        await self.repl.set_vars(history=self.state.history)
        if snapshot is None:
            return {}
        return await self.repl.restore(snapshot)

    # -- what the REPL holds ---------------------------------------------------------------

    async def attach(
        self, path: str | Path, name: str | None = None, *, as_context: bool = True
    ) -> Attachment:
        """Load a file or folder into ``files[name]`` (and ``context``); the REPL reads it from disk."""
        resolved = Path(path).expanduser()
        problem = readable_problem(resolved)
        if problem:
            raise AttachmentError(problem)
        name = name or resolved.name
        try:
            disk_bytes, mtime, digest = await asyncio.to_thread(fingerprint, resolved, False)
        except OSError as exc:
            raise AttachmentError(f"{resolved}: cannot be read ({exc.strerror or exc})") from None
        try:
            info = await self.repl.load_file(name, resolved, as_context=as_context)
        except SandboxError as exc:
            raise AttachmentError(f"could not load {resolved}: {exc}") from exc
        digest = digest or info.get("digest") or ""
        if not digest:  # a REPL that did not hash what it read: the file is hashed here
            try:
                disk_bytes, mtime, digest = await asyncio.to_thread(fingerprint, resolved)
            except OSError as exc:
                raise AttachmentError(f"{resolved}: cannot be read ({exc.strerror or exc})") from None
        attachment = Attachment(
            name, str(resolved.resolve()), info["type"] or "", info["size"] or 0, disk_bytes, mtime, digest
        )
        self.attachments.pop(name, None)
        self.attachments[name] = attachment
        if as_context:
            self.context_source = ("file", name)
        return attachment

    def attach_progress(self) -> tuple[int, int] | None:
        """How far the file being attached has been read, (bytes, size), if the REPL can tell."""
        probe = getattr(self.repl, "load_progress", None)
        return probe() if probe is not None else None

    async def detach(self, name: str) -> Attachment:
        """Drop an attached file from ``files`` (and from the session's record at the next
        snapshot); if it was ``context``, the latest other attached file is ``context`` again."""
        attachment = self.attachments.get(name)
        if attachment is None:
            known = ", ".join(self.attachments) or "none"
            raise AttachmentError(f"no attached file named {name!r} (attached: {known})")
        try:
            now = await self.repl.detach_file(name)
        except SandboxError as exc:
            raise AttachmentError(f"could not detach {name}: {exc}") from exc
        del self.attachments[name]
        if self.context_source == ("file", name):
            self.context_source = ("file", now) if now else None
        return attachment

    async def set_context_text(self, text: str, description: str) -> None:
        """Put a long message in ``context`` (also how a resumed session gets it back)."""
        self.context_source = ("text", text)
        await self.repl.set_vars(context=text, describe={"context": description})

    async def set_context_file(self, name: str) -> None:
        """Make an attached file ``context`` again (a resumed session whose latest input it was)."""
        self.context_source = ("file", name)
        await self.repl.use_file_as_context(name)

    def cancel(self) -> bool:
        """Cancel the running turn (Esc). Work done so far is kept. Returns whether one was running."""
        if self._ctx is None:
            return False
        self._ctx.cancel()
        return True

    # -- a turn ----------------------------------------------------------------------------

    async def run_turn(self, message: str) -> TurnResult:
        if self._ctx is not None:
            raise SessionBusy("a turn is already running in this session")
        message = utf8_safe(message)  # e.g. bad bytes in argv, decoded with surrogateescape
        self.state.turns += 1
        turn = self.state.turns
        node = nodes.turn(turn)
        settings = self.settings
        ctx = TurnContext(
            session_id=self.session_id,
            turn=turn,
            settings=settings,
            client=self.client,
            emit=self.emit,
            shared=self.shared,
            workdir=self.workdir,
            repl_factory=self.repl_factory,
            run_child=run_child,
        )
        ctx.repls.add(self.repl)
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
            table = await self._var_table()
            self._report_restarts(ctx, node)
            run = RLMRun(
                ctx,
                self.repl,
                depth=0,
                node=node,
                parent=None,
                model=settings.root_model,
                first_message=prompts.turn_message(
                    turn=turn,
                    var_table=table,
                    message=message,
                    long_message=long_message,
                    notes=self.notes_for_model,
                ),
            )
            self.notes_for_model = []
            outcome = await run.run()
            answer, stopped_by = outcome.answer, outcome.stopped_by
            status = "stopped" if stopped_by else "ok"
        except TurnCancelled:
            status = "cancelled"
        except TurnStuck as exc:
            status, error = "stuck", f"stopped: {exc}"
        except ProviderError as exc:
            status, error, error_kind = "failed", str(exc), exc.kind
        except SandboxError as exc:
            status, error = "failed", f"the REPL failed: {exc}"
        finally:
            self._ctx = None
        answer = None if answer is None else utf8_safe(answer)
        error = None if error is None else utf8_safe(error)
        if error:
            where = "model" if error_kind or status == "stuck" else "sandbox"
            ctx.event(Error, node, None, message=error, where=where)
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

    async def _var_table(self) -> str:
        try:
            table, _ = await self.repl.var_table()
        except SandboxError as exc:
            return f"(the variable table could not be built: {exc}; SHOW_VARS() may tell more)"
        return utf8_safe(table)

    def _report_restarts(self, ctx: TurnContext, node: str) -> None:
        for note in self.repl.unreported_restarts:
            ctx.event(Notice, node, None, kind="worker_restarted", message=note)
        self.repl.unreported_restarts.clear()

    async def _record_exchange(
        self, ctx: TurnContext, node: str, turn: int, message: str, answer: str
    ) -> None:
        entries = [
            {"role": "user", "content": message, "turn": turn},
            {"role": "assistant", "content": answer, "turn": turn},
        ]
        self.state.history.extend(entries)
        try:
            await self.repl.append_vars(history=entries)
            self.last_snapshot = await self.repl.take_snapshot(thorough=True)
            self._report_restarts(ctx, node)
            if self.snapshot_sink is not None:
                self.snapshot_sink(
                    turn, self.last_snapshot, list(self.attachments.values()), self.context_source
                )
        except Exception as exc:  # the turn is over and recorded; a failed snapshot must not lose it
            ctx.event(
                Notice,
                node,
                None,
                kind="sandbox",
                message=f"the REPL could not be saved after the turn: {exc}",
            )

    async def close(self) -> None:
        if self._ctx is not None:
            self._ctx.cancel()
        await self.repl.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> Session:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
