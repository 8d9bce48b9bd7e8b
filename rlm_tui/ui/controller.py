"""The app's link to the engine and the store, kept out of the widgets: opening, resuming and
closing sessions, running turns, attaching files, switching models, forking and exporting.

Heavy modules (the engine's worker, sqlite, the provider SDKs) are imported here on first use, so
the first frame never waits for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

from rlm_tui.config import Config, ConfigError
from rlm_tui.events import Event, EventBus


class Controller:
    def __init__(self, config: Config, *, client: Any = None) -> None:
        self.config = config
        self._client = client  # tests pass a scripted client; otherwise the router is built from config
        self.real_providers = client is None  # only then are SDKs imported and keys checked
        self.bus = EventBus()
        self.store: Any = None
        self.opened: Any = None
        self.model_problem: str | None = None
        self.turn_task: asyncio.Task | None = None
        self._store_lock = asyncio.Lock()
        # One session is opened or closed at a time: a message sent while the first session is
        # still opening waits for it instead of opening a second one beside it.
        self._session_lock = asyncio.Lock()

    # -- set-up ----------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            from rlm_tui.runtime import make_router

            self._client = make_router(self.config)
        return self._client

    async def open_store(self) -> Any:
        async with self._store_lock:
            if self.store is None:
                from rlm_tui.store.sessions import Store

                self.store = await asyncio.to_thread(Store.default)
        return self.store

    def preload(self) -> str | None:
        """In a thread after the first frame: import the provider SDKs the models need and check
        the models can be used. Returns a problem (a missing key, ...) to show in the app."""
        if not self.real_providers:
            return None
        from rlm_tui.runtime import check_models

        models = (self.config.model, self.config.sub_model)
        if any(m.startswith("anthropic/") for m in models):
            import anthropic  # noqa: F401
        if any(not m.startswith("anthropic/") for m in models):
            from rlm_tui.llm.litellm_client import import_litellm

            import_litellm()
        try:
            check_models(self.config)
        except ConfigError as exc:
            self.model_problem = str(exc)
        else:
            self.model_problem = None
        return self.model_problem

    # -- sessions ---------------------------------------------------------------------------

    @property
    def session(self) -> Any:
        return self.opened.session if self.opened is not None else None

    @property
    def busy(self) -> bool:
        return self.turn_task is not None and not self.turn_task.done()

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
        from rlm_tui.resume import open_session

        store = await self.open_store()
        self.opened = await open_session(self.config, self.client, store, self.bus, session_id=session_id)
        return self.opened

    async def recorded_events(self, session_id: str) -> tuple[Any, list[Event]]:
        store = await self.open_store()
        sid = store.resolve(session_id)
        info = store.get(sid)
        return info, await asyncio.to_thread(store.events, sid)

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
                await asyncio.to_thread(self._forget, opened.session)

    def _forget(self, session: Any) -> None:
        """A new session closed before its first turn leaves nothing behind (no row, no folder)."""
        import shutil

        self.store.delete(session.session_id)
        shutil.rmtree(session.workdir, ignore_errors=True)

    async def close(self) -> None:
        await self.close_session()
        if self.store is not None:
            self.store.close()
            self.store = None

    # -- turns -----------------------------------------------------------------------------

    async def send(self, text: str) -> Any:
        if self.model_problem:
            raise ConfigError(self.model_problem)
        session = (await self.ensure_session()).session
        self.turn_task = asyncio.current_task()
        try:
            return await session.run_turn(text)
        finally:
            self.turn_task = None

    def cancel(self) -> bool:
        return self.session is not None and self.session.cancel()

    async def attach(self, path: str, name: str | None = None) -> Any:
        return await (await self.ensure_session()).session.attach(path, name)

    async def var_table(self) -> str:
        table, _ = await (await self.ensure_session()).session.worker.var_table(max_rows=None)
        return table

    def set_model(self, which: str, model: str) -> None:
        """Switch the root (``model``) or sub-model for the next turns; checked like at start."""
        from rlm_tui.llm.models import problem_with

        problem = problem_with(model) if self.real_providers else None
        if problem:
            raise ConfigError(problem)
        setattr(self.config, which, model)
        self.config.sources[which] = "/model"
        self.model_problem = None
        if self.session is not None:
            field = "root_model" if which == "model" else "sub_model"
            self.session.settings = dataclasses.replace(self.session.settings, **{field: model})

    def fork(self, turn: int, session_id: str | None = None) -> str:
        """Fork this session (or a recorded one) at a turn; returns the new session's id."""
        from rlm_tui.engine.session import new_session_id

        return self.store.fork(session_id or self.session.session_id, turn, new_session_id())

    def export(self, fmt: str, path: str | None, session_id: str | None = None) -> Path:
        from rlm_tui.store.export import to_jsonl, to_markdown

        sid = session_id or self.session.session_id
        target = Path(path).expanduser() if path else Path(os.getcwd()) / f"rlm-{sid}.{fmt}"
        text = to_markdown(self.store, sid) if fmt == "md" else to_jsonl(self.store, sid)
        target.write_text(text, encoding="utf-8")
        return target
