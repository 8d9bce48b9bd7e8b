"""Opening a session for work, new or recorded: the engine's Session, with a sandboxed REPL, wired
to the recorder.

Resuming brings back ``history``, ``memory`` and every restorable variable from the snapshot of
the last turn, and the attached files; a file that changed or vanished since is reported, not
silently reloaded.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rlm_tui.config import Config
from rlm_tui.engine.attachments import fingerprint
from rlm_tui.engine.session import Session, SessionState, new_session_id
from rlm_tui.events import EventBus, Notice, NoticeKind, nodes
from rlm_tui.llm.base import ModelClient
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.snapshot import Snapshot
from rlm_tui.services.attaching import attach_problem
from rlm_tui.services.runtime import engine_settings, locks_root, session_dir
from rlm_tui.services.session_lock import SessionLock
from rlm_tui.store.recorder import Recorder
from rlm_tui.store.sessions import FileRef, Store, StoredSnapshot


@dataclass
class Opened:
    session: Session
    recorder: Recorder
    resumed: bool
    notices: list[tuple[NoticeKind, str]] = field(default_factory=list)  # said once the session is open
    detach: Callable[[], None] = lambda: None  # unsubscribes the recorder from the bus
    lock: SessionLock | None = None  # this process is the session's one writer while it is open

    async def close(self) -> None:
        self.detach()
        try:
            await self.session.close()
        finally:
            if self.lock is not None:
                self.lock.release()


def file_problem(ref: FileRef) -> str | None:
    """Why an attached file cannot be reloaded as it was, or None if it is unchanged."""
    path = Path(ref.path)
    if not path.exists():
        return f"{ref.name}: {ref.path} is gone"
    problem = attach_problem(path)  # replaced by a FIFO or a device since: never opened
    if problem:
        return f"{ref.name}: {problem}"
    if path.is_file():
        st = path.stat()
        if st.st_size == ref.disk_bytes and st.st_mtime == ref.mtime:
            return None
    try:
        _, _, digest = fingerprint(path)
    except OSError as exc:
        return f"{ref.name}: {ref.path} cannot be read ({exc.strerror or exc})"
    return None if digest == ref.digest else f"{ref.name}: {ref.path} changed since it was attached"


async def open_session(
    config: Config,
    client: ModelClient,
    store: Store,
    bus: EventBus,
    *,
    session_id: str | None = None,
) -> Opened:
    """Start a new session (session_id None) or resume a recorded one (id or unique prefix). Any
    failure on the way leaves nothing behind: the recorder is unsubscribed, the REPL closed, and a
    new session's row and folder removed.

    The session is locked for this process until ``Opened.close`` (``SessionBusy`` after
    ``config.session_wait`` seconds if another process has it); its recorded state is read only
    once the lock is held, so a writer that waited resumes from the other one's last turn."""
    sid = store.resolve(session_id) if session_id is not None else None
    new_id = new_session_id() if sid is None else None
    lock = SessionLock(locks_root(), new_id or sid or "")
    await lock.acquire(config.session_wait)
    recorder = Recorder(store.db)
    detach = bus.subscribe(recorder)
    session: Session | None = None
    try:
        if new_id is not None:
            workdir = session_dir(new_id)
            recorder.register_session(new_id, str(workdir))
            session = _session(config, client, bus, recorder, new_id, workdir, SessionState())
            await session.start()
            return Opened(session, recorder, resumed=False, detach=detach, lock=lock)
        assert sid is not None
        row = store.get(sid)
        workdir = Path(row.workdir) if row.workdir else session_dir(sid)
        workdir.mkdir(parents=True, exist_ok=True)
        recorder.register_session(sid, str(workdir))
        state = SessionState(history=store.history(sid), turns=store.turn_count(sid))
        session = _session(config, client, bus, recorder, sid, workdir, state)
        opened = Opened(session, recorder, resumed=True, detach=detach, lock=lock)
        await _restore(opened, store.snapshot(sid))
    except BaseException:
        detach()
        try:
            if session is not None:
                await session.close()
            if new_id is not None:  # a session that never opened leaves nothing behind
                store.delete(new_id)
                shutil.rmtree(session_dir(new_id), ignore_errors=True)
        finally:
            lock.release()
        raise
    turn = state.turns  # notices belong to the last turn: resuming alone starts no new one
    for kind, message in opened.notices:
        bus(
            Notice(
                session_id=sid, turn=turn, node_id=nodes.RESUME, parent_id=None, kind=kind, message=message
            )
        )
    return opened


def _session(
    config: Config,
    client: ModelClient,
    bus: EventBus,
    recorder: Recorder,
    session_id: str,
    workdir: Path,
    state: SessionState,
) -> Session:
    return Session(
        engine_settings(config),
        client,
        bus,
        repl_factory=Worker,
        session_id=session_id,
        workdir=workdir,
        state=state,
        snapshot_sink=functools.partial(recorder.save_snapshot, session_id),
    )


async def _restore(opened: Opened, stored: StoredSnapshot | None) -> None:
    """A resumed session's REPL as it was after its last turn: variables, files, ``context``."""
    session = opened.session
    failed = await session.start(Snapshot(stored.blobs, stored.skipped) if stored else None)
    for name, reason in failed.items():
        opened.notices.append(("sandbox", f"variable {name} could not be restored: {reason}"))
    if stored is None:
        return
    for name, reason in stored.skipped.items():
        opened.notices.append(("sandbox", f"variable {name} was not saved with the session: {reason}"))
    loaded = set()
    for ref in stored.files:  # in the order they were attached; `context` is set after
        problem = file_problem(ref)
        if problem is None:
            await session.attach(ref.path, ref.name, as_context=False)
            loaded.add(ref.name)
            continue
        opened.notices.append(
            ("file_changed", f"{problem}; it was not reloaded (attach it again to use the current file)")
        )
        session.notes_for_model.append(
            f"the attached {ref.name!r} ({ref.path}) changed or vanished since the last turn, so it is "
            "not in `files` (nor `context`); the user can attach it again"
        )
    if stored.context is not None:
        kind, value = stored.context
        if kind == "text":
            await session.set_context_text(value, f"a long user message ({len(value):,} chars)")
        elif value in loaded:
            await session.set_context_file(value)
