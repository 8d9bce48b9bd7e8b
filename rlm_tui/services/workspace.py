"""The app's live session, kept out of the widgets: opening, resuming and closing sessions, running
turns, attaching files, switching models; and the recorded sessions (``catalog``) it browses.

Heavy modules (the engine's worker, sqlite, the provider SDKs) are imported here on first use, so
the app's first frame never waits for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from rlm_tui.config import Config
from rlm_tui.errors import AttachmentError, ConfigError, NotRecorded, UsageError
from rlm_tui.events import Event, EventBus


class Workspace:
    def __init__(self, config: Config, *, client: Any = None) -> None:
        self.config = config
        self._client = client  # tests pass a scripted client; otherwise the router is built from config
        self.real_providers = client is None  # only then are SDKs imported and keys checked
        # A subscriber that fails (the recorder on a full disk) is said once, never silent.
        self.on_problem: Callable[[str], None] = lambda message: None
        self.bus = EventBus(on_error=lambda exc: self.on_problem(f"could not record the session: {exc}"))
        self.catalog: Any = None  # services.catalog.Catalog, opened on first use
        self.opened: Any = None  # services.opening.Opened
        self.model_problem: str | None = None
        self.turn_task: asyncio.Task | None = None
        self._catalog_lock = asyncio.Lock()
        # One session is opened or closed at a time: a message sent while the first session is
        # still opening waits for it instead of opening a second one beside it.
        self._session_lock = asyncio.Lock()

    # -- set-up ----------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            from rlm_tui.services.runtime import make_router

            self._client = make_router(self.config)
        return self._client

    async def open_catalog(self) -> Any:
        async with self._catalog_lock:
            if self.catalog is None:
                from rlm_tui.services.catalog import Catalog

                self.catalog = await asyncio.to_thread(Catalog.open)
        return self.catalog

    def preload(self) -> str | None:
        """In a thread after the first frame: import the provider SDKs the models need and check
        the models can be used. Returns a problem (a missing key, ...) to show in the app."""
        if not self.real_providers:
            return None
        from rlm_tui.services.runtime import check_models, preload_clients

        preload_clients(self.config, wait=True)
        try:
            check_models(self.config)
        except ConfigError as exc:
            self.model_problem = str(exc)
        else:
            self.model_problem = None
        return self.model_problem

    # -- the open session ------------------------------------------------------------------

    @property
    def session(self) -> Any:
        return self.opened.session if self.opened is not None else None

    @property
    def busy(self) -> bool:
        return self.turn_task is not None and not self.turn_task.done()

    @property
    def isolation(self) -> Any:
        """How the open session's REPL is isolated (None before one is open)."""
        return self.session.repl.isolation if self.session is not None else None

    async def new_session(self) -> Any:
        async with self._session_lock:
            await self._close_session()
            return await self._open()

    async def resume(self, session_id: str) -> Any:
        async with self._session_lock:
            await self._close_session()
            return await self._open(session_id)

    async def ensure_session(self) -> Any:
        """The open session, or a new one when there is none (waiting for one being opened)."""
        async with self._session_lock:
            if self.opened is None:
                await self._open()
            return self.opened

    async def _open(self, session_id: str | None = None) -> Any:
        from rlm_tui.services.opening import open_session

        catalog = await self.open_catalog()
        self.opened = await open_session(
            self.config, self.client, catalog.store, self.bus, session_id=session_id
        )
        return self.opened

    async def recorded_events(self, session_id: str) -> tuple[Any, list[Event]]:
        catalog = await self.open_catalog()
        sid = catalog.resolve(session_id)
        return catalog.get(sid), await asyncio.to_thread(catalog.events, sid)

    async def close_session(self) -> None:
        async with self._session_lock:
            await self._close_session()

    async def _close_session(self) -> None:
        if self.busy:
            self.cancel()
            await asyncio.wait([self.turn_task], timeout=5)
        if self.opened is not None:
            opened, self.opened = self.opened, None
            await opened.close()
            if not opened.resumed and opened.session.turns == 0:
                session = opened.session
                await asyncio.to_thread(self.catalog.forget, session.session_id, session.workdir)

    async def close(self) -> None:
        await self.close_session()
        if self.catalog is not None:
            self.catalog.close()
            self.catalog = None

    # -- turns -----------------------------------------------------------------------------

    async def send(self, text: str) -> Any:
        """Run a turn. ``NotRecorded`` (holding the turn's result) when any of its records could
        not be written: a turn the database does not hold is not a success."""
        if self.model_problem:
            raise ConfigError(self.model_problem)
        opened = await self.ensure_session()
        recorder = opened.recorder
        recorder.failure = None
        self.turn_task = asyncio.current_task()
        try:
            result = await opened.session.run_turn(text)
        finally:
            self.turn_task = None
        if recorder.failure is not None:
            raise NotRecorded(f"turn {result.turn} was not recorded: {recorder.failure}", result)
        return result

    def cancel(self) -> bool:
        return self.session is not None and self.session.cancel()

    async def fork_before_last_turn(self) -> str | None:
        """Undo the last turn: the id of a fork of this session holding the turns before it, its
        REPL from the snapshot taken after the turn before. None when the last turn is the first
        (a new session is the state before it). The session itself is kept, turn and all."""
        if self.busy:
            raise UsageError("a turn is running: wait for it or cancel it (Esc) first")
        session = self.session
        if session is None or session.turns == 0:
            raise UsageError("this session has no turn to undo yet")
        if session.turns == 1:
            return None
        catalog = await self.open_catalog()
        return await asyncio.to_thread(catalog.fork, session.session_id, session.turns - 1)

    async def attach(self, path: Any, name: str | None = None) -> Any:
        """Attach a regular file or a folder (anything else, a FIFO or a device, is refused
        before it is opened: reading one could never end)."""
        from pathlib import Path

        from rlm_tui.services.attaching import attach_problem

        problem = attach_problem(Path(path).expanduser())
        if problem:
            raise AttachmentError(problem)
        return await (await self.ensure_session()).session.attach(path, name)

    def attach_progress(self) -> tuple[int, int] | None:
        """How far the file being attached has been read: (bytes, size), or None when unknown."""
        return self.session.attach_progress() if self.session is not None else None

    async def detach(self, name: str) -> Any:
        """Drop an attached file from the session's REPL (``files``, and ``context`` if it was)."""
        if self.session is None:
            raise AttachmentError("no file is attached")
        return await self.session.detach(name)

    async def var_table(self) -> str:
        table, _ = await (await self.ensure_session()).session.repl.var_table(max_rows=None)
        return table

    def set_model(self, which: str, model: str) -> None:
        """Switch the root (``model``) or sub-model for the next turns; checked like at start."""
        from rlm_tui.services.runtime import model_problem

        problem = model_problem(model) if self.real_providers else None
        if problem:
            raise ConfigError(problem)
        setattr(self.config, which, model)
        self.config.sources[which] = "/model"
        self.model_problem = None
        if self.session is not None:
            field = "root_model" if which == "model" else "sub_model"
            self.session.settings = dataclasses.replace(self.session.settings, **{field: model})

    async def model_choices(self, which: str = "model") -> list[Any]:
        """Models to pick from for the root (``model``) or sub-model: the configured endpoint's,
        then every chat model litellm knows (``services.model_choices``)."""
        from rlm_tui.services.model_choices import model_choices

        config = self.config
        api_base = (config.sub_api_base or config.api_base) if which == "sub_model" else config.api_base
        return await model_choices(api_base, getattr(config, which))

    async def model_window(self, model: str) -> str:
        """The model's context window and output limit, and where each came from, in words."""
        limits = await self.client.limits(model)
        if limits.context_window is None:
            return "context window unknown (set context_window for it, in the config file)"
        text = f"context window {limits.context_window:,} tokens ({limits.source})"
        if limits.max_output_tokens:
            text += f", replies up to {limits.max_output_tokens:,} tokens"
        return text

    # -- recorded sessions -----------------------------------------------------------------

    def shown_session(self, read_only_id: str | None) -> tuple[str, int]:
        """The session on screen (the live one, or one shown read-only) and its number of turns."""
        if read_only_id is not None:
            return read_only_id, self.catalog.get(read_only_id).turns
        session = self.session
        if session is None or session.turns == 0:
            raise UsageError("this session has no turn yet")
        return session.session_id, session.turns
