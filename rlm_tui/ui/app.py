"""The Textual app: chat screen, session browser, themes, command palette.

The first frame is drawn before anything heavy happens: the store, the REPL worker and the
provider SDKs are opened and imported afterwards, in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from rlm_tui.config import Config, configured_theme, picked_theme
from rlm_tui.errors import RlmError
from rlm_tui.events import Event
from rlm_tui.services.workspace import Workspace
from rlm_tui.ui import themes
from rlm_tui.ui.actions import CHAT_ACTIONS, applicable
from rlm_tui.ui.commands import COMMANDS
from rlm_tui.ui.leaving import leave_now, stop_workers
from rlm_tui.ui.screens.chat import ChatScreen
from rlm_tui.ui.warmup import freeze_long_lived, in_background, warm_imports
from rlm_tui.ui.widgets.settled import SettledMarkdown


def terminal_has_few_colours() -> bool:
    """A 256-colour terminal (the CLI asks before it opens the app: see ``themes.few_colours``)."""
    return themes.few_colours()


class RLMApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "rlm-tui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        config: Config,
        *,
        client: Any = None,
        session_id: str | None = None,
        resume_latest: bool = False,
        view: tuple[str, list[Event]] | None = None,
        animate: bool = True,
        few_colours: bool = False,
    ) -> None:
        super().__init__()
        self.few_colours = few_colours  # a 256-colour terminal: themes with grey surfaces
        self.config = config
        self.workspace = Workspace(config, client=client)
        self.workspace.on_problem = self._problem
        self.start_session_id = session_id
        self.resume_latest = resume_latest
        self.view = view  # (title, events) of a trajectory log to show read-only
        self.animate = animate
        self.sandbox_level = "process"
        self._isolation_noted = False
        self.syntax_styles: dict[str, str] = {}
        self.theme_problems: list[str] = []
        self.startup_done = asyncio.Event()
        self._load_themes()

    # -- themes ----------------------------------------------------------------------------

    def _load_themes(self) -> None:
        specs, self.theme_problems = themes.load_all(few=self.few_colours)
        for spec in specs:
            self.register_theme(spec.theme)
            self.syntax_styles[spec.theme.name] = spec.syntax
        wanted = picked_theme(self.config) or self.config.theme
        if wanted not in self.available_themes:
            self.theme_problems.append(
                f"there is no theme {wanted!r} (themes: {', '.join(sorted(s.theme.name for s in specs))})"
            )
            wanted = themes.DEFAULT
        self.theme = wanted

    def syntax_style(self) -> str:
        theme = self.current_theme
        return self.syntax_styles.get(self.theme, "monokai" if theme is None or theme.dark else "default")

    def _theme_changed(self, theme: Any) -> None:
        themes.remember_theme(self.theme, configured_theme(self.config))
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                screen.cells.set_syntax(self.syntax_style())
                for answer in screen.query(SettledMarkdown):
                    answer.set_code_theme(self.syntax_style())
                screen.tree.refresh_nodes(set(screen.tree.tree_nodes))

    # -- start-up --------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return ChatScreen()

    @property
    def chat(self) -> ChatScreen:
        return next(s for s in self.screen_stack if isinstance(s, ChatScreen))

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    @work(exclusive=True, group="startup")
    async def startup(self) -> None:
        chat = self.chat
        # Off the event loop, while the editor already takes keys: the provider SDKs and the
        # session's modules (a first launch compiles them, which took seconds on the loop).
        preload = in_background(self.workspace.preload)
        try:
            await in_background(warm_imports)
            if self.view is not None:
                title, events = self.view
                await chat.show_recorded(events, f"rlm-tui · {title} (read-only)")
                chat.set_read_only(title)
                return
            if self.start_session_id or self.resume_latest:
                session_id = self.start_session_id
                if session_id is None:
                    catalog = await self.workspace.open_catalog()
                    latest = await asyncio.to_thread(catalog.latest)
                    session_id = latest.id if latest else None
                if session_id is not None:
                    await self.resume_session(session_id)
                else:
                    await chat.chat.add_notice("No recorded session to resume yet: this is a new one.")
                    await self.start_new_session()
            else:
                await self.start_new_session()
            for problem in self.theme_problems:  # after the session is drawn: a new one clears the chat
                await chat.chat.add_notice(f"⚠ theme: {problem}", error=True)
            problem = await preload
            if problem:
                await chat.chat.add_notice(
                    f"✗ {problem}. Set it in your environment and restart rlm, or pick another model with "
                    "/model provider/name (and /sub-model).",
                    error=True,
                )
        except RlmError as exc:  # start-up trouble is shown in the app, never a crash
            await chat.chat.add_notice(f"✗ {exc}", error=True)
        except Exception as exc:
            await chat.chat.add_notice(f"✗ {type(exc).__name__}: {exc}", error=True)
        finally:
            if not preload.done():  # start-up failed early: the preload still ends, quietly
                preload.add_done_callback(lambda task: task.cancelled() or task.exception())
            chat.refresh_status()
            freeze_long_lived()
            self.startup_done.set()

    # -- sessions --------------------------------------------------------------------------

    def _problem(self, message: str) -> None:
        self.call_later(self.chat.chat.add_notice, f"✗ {message}", error=True)

    async def start_new_session(self) -> None:
        chat = self.chat
        await chat.reset()
        chat.set_read_only(None)
        try:
            opened = await self.workspace.new_session()
        except RlmError as exc:  # the app stays open: the next message tries again
            await chat.chat.add_notice(f"✗ no session could be opened: {exc}", error=True)
            return
        chat.set_title(f"rlm-tui · new session · {opened.session.session_id}")
        chat.title_pending = True
        await self._note_isolation()

    async def _note_isolation(self) -> None:
        """Show the sandbox's isolation in the status bar; say once when it is only a process."""
        isolation = self.workspace.isolation
        if isolation is not None:
            self.sandbox_level = isolation.level
            if isolation.level != "bubblewrap" and not self._isolation_noted:
                self._isolation_noted = True
                await self.chat.chat.add_notice(f"⚠ sandbox: {isolation.note}")
        self.chat.refresh_status()

    async def resume_session(self, session_id: str) -> None:
        chat = self.chat
        try:
            info, events = await self.workspace.recorded_events(session_id)
        except RlmError as exc:
            await chat.chat.add_notice(f"✗ {exc}", error=True)
            return
        chat.pump.paused = True  # events of the resumed REPL's start come after the recorded ones
        try:
            await chat.show_recorded(events, f"rlm-tui · {info.title or info.id}")
            await self.workspace.resume(info.id)
        except RlmError as exc:  # the REPL would not start: the session stays shown, read-only
            chat.pump.paused = False
            chat.set_read_only(info.id)
            await chat.chat.add_notice(f"✗ the session could not be resumed: {exc}", error=True)
            return
        finally:
            chat.pump.paused = False
        await chat.pump.flush()
        chat.set_read_only(None)
        chat.set_title(f"rlm-tui · {info.title or info.id} · {info.id}")
        await self._note_isolation()

    async def view_session(self, session_id: str) -> None:
        chat = self.chat
        if self.workspace.busy:  # the running turn's events would be drawn into the other session
            self.notify("A turn is running: wait for it or cancel it (Esc) first.", severity="warning")
            return
        try:
            info, events = await self.workspace.recorded_events(session_id)
        except RlmError as exc:
            await chat.chat.add_notice(f"✗ {exc}", error=True)
            return
        await chat.show_recorded(events, f"rlm-tui · {info.title or info.id} (read-only)")
        chat.set_read_only(info.id)

    # -- help and palette ------------------------------------------------------------------

    def show_help(self) -> None:
        from rlm_tui.ui.screens.help import HelpScreen

        shown = [(a.key, a.help) for a in CHAT_ACTIONS if a.key is not None]
        shown += [(b.key, b.tooltip or b.description) for b in self.BINDINGS if isinstance(b, Binding)]
        shown += [
            ("ctrl+p", "Command palette"),
            ("tab / shift+tab", "Move between panes (in the editor, Tab completes and stays)"),
            ("enter (calls)", "Open the node's full prompt and response"),
            ("o (cells)", "Open a cell's full output"),
            ("space (calls)", "Expand or collapse a node"),
            ("E / C (calls)", "Expand or collapse every node"),
            ("f / d (calls)", "Failed calls only / down to one depth of recursion (again: all)"),
            ("up / down (editor)", "Previous / next message sent (or take back a queued one)"),
            ("pageup / pagedown, ctrl+home / ctrl+end", "Scroll the chat from the editor"),
            ("enter / up, down (search)", "Earlier / later match; Esc closes the search"),
            ("c / p / r (detail)", "Copy the whole node, its prompt, its response"),
            ("ctrl+o then enter / r / f / n / e / d", "Sessions: open, resume, fork, rename, export, delete"),
        ]
        self.push_screen(HelpScreen(shown))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        ours = {a.title for a in applicable(screen)}
        for command in super().get_system_commands(screen):
            if command.title in ("Maximize", "Minimize") and "Maximize pane" in ours:
                continue  # the screen's own "Maximize pane" (F5) does it, for the pane around the focus
            yield command
        for action in applicable(screen):
            yield SystemCommand(
                action.title, action.help, lambda a=action.action: self.run_worker(screen.run_action(a))
            )
        if screen is not self.chat:
            return
        chat = self.chat
        for command in COMMANDS:
            for title, text in command.palette:
                if text.endswith(" "):  # its arguments are filled in in the editor
                    yield SystemCommand(title, command.help, lambda t=text: chat.start_command(t))
                else:
                    yield SystemCommand(
                        title, command.help, lambda t=text: self.run_worker(chat.run_command(t))
                    )

    async def action_quit(self) -> None:
        await self.workspace.close()  # the turn cancelled, every record written, the REPL stopped
        if not self.is_headless:
            leave_now(self)  # the terminal restored and the process gone, without the teardown
        self.exit()

    async def _shutdown(self) -> None:
        """Before Textual removes the widgets: stop drawing and end our workers (a send still
        drawing its turn's last events, a slow command), each at its next await; otherwise a
        worker redrawing mid-teardown meets a message whose parts are already gone."""
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                screen.stop_drawing()
        await stop_workers(self)
        await super()._shutdown()
