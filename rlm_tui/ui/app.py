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
from rlm_tui.events import Event
from rlm_tui.ui import themes
from rlm_tui.ui.controller import Controller
from rlm_tui.ui.screens.chat import ChatScreen


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
    ) -> None:
        super().__init__()
        self.config = config
        self.controller = Controller(config, client=client)
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
        specs, self.theme_problems = themes.load_all()
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
        try:
            if self.view is not None:
                title, events = self.view
                await chat.show_recorded(events, f"rlm-tui · {title} (read-only)")
                chat.set_read_only(title)
                return
            if self.start_session_id or self.resume_latest:
                session_id = self.start_session_id
                if session_id is None:
                    store = await self.controller.open_store()
                    latest = store.latest()
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
            problem = await asyncio.to_thread(self.controller.preload)
            if problem:
                await chat.chat.add_notice(
                    f"✗ {problem}. Set it in your environment and restart rlm, or pick another model with "
                    "/model provider/name (and /sub-model).",
                    error=True,
                )
        except Exception as exc:  # start-up trouble is shown in the app, never a crash
            await chat.chat.add_notice(f"✗ {type(exc).__name__}: {exc}", error=True)
        finally:
            chat.refresh_status()
            self.startup_done.set()

    # -- sessions --------------------------------------------------------------------------

    async def start_new_session(self) -> None:
        chat = self.chat
        await chat.reset()
        chat.set_read_only(None)
        opened = await self.controller.new_session()
        chat.set_title(f"rlm-tui · new session · {opened.session.session_id}")
        chat.title_pending = True
        await self._note_isolation()

    async def _note_isolation(self) -> None:
        """Show the sandbox's isolation in the status bar; say once when it is only a process."""
        isolation = self.controller.session.worker.isolation if self.controller.session else None
        if isolation is not None:
            self.sandbox_level = isolation.level
            if isolation.level != "bubblewrap" and not self._isolation_noted:
                self._isolation_noted = True
                await self.chat.chat.add_notice(f"⚠ sandbox: {isolation.note}")
        self.chat.refresh_status()

    async def resume_session(self, session_id: str) -> None:
        chat = self.chat
        try:
            info, events = await self.controller.recorded_events(session_id)
        except LookupError as exc:
            await chat.chat.add_notice(f"✗ {exc}", error=True)
            return
        chat.pump.paused = True  # events of the resumed REPL's start come after the recorded ones
        try:
            await chat.show_recorded(events, f"rlm-tui · {info.title or info.id}")
            await self.controller.resume(info.id)
        finally:
            chat.pump.paused = False
        await chat.pump.flush()
        chat.set_read_only(None)
        chat.set_title(f"rlm-tui · {info.title or info.id} · {info.id}")
        await self._note_isolation()

    async def view_session(self, session_id: str) -> None:
        chat = self.chat
        if self.controller.busy:  # the running turn's events would be drawn into the other session
            self.notify("A turn is running: wait for it or cancel it (Esc) first.", severity="warning")
            return
        info, events = await self.controller.recorded_events(session_id)
        await chat.show_recorded(events, f"rlm-tui · {info.title or info.id} (read-only)")
        chat.set_read_only(info.id)

    # -- help and palette ------------------------------------------------------------------

    def show_help(self) -> None:
        from rlm_tui.ui.screens.help import HelpScreen

        shown: list[tuple[str, str]] = []
        for binding in [*self.chat.BINDINGS, *self.BINDINGS]:
            if isinstance(binding, Binding) and binding.description:
                shown.append((binding.key, binding.tooltip or binding.description))
        shown += [
            ("ctrl+p", "Command palette"),
            ("tab / shift+tab", "Move between panes"),
            ("enter (calls)", "Open the node's full prompt and response"),
            ("o (cells)", "Open a cell's full output"),
            ("space (calls)", "Expand or collapse a node"),
            ("E / C (calls)", "Expand or collapse every node"),
            ("c / p / r (detail)", "Copy the whole node, its prompt, its response"),
            ("ctrl+o then enter / r / f / n / e / d", "Sessions: open, resume, fork, rename, export, delete"),
        ]
        self.push_screen(HelpScreen(shown))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        own = getattr(screen, "palette_commands", None)
        if own is not None:  # the session browser has its own
            yield from own()
            return
        chat = self.chat
        yield SystemCommand("New session", "Start a new chat session", chat.action_new_session)
        yield SystemCommand(
            "Sessions", "Browse, search, open, resume, fork, export or delete sessions", chat.action_sessions
        )
        yield SystemCommand("Cancel turn", "Stop the running turn (Esc)", chat.action_cancel_turn)
        yield SystemCommand("Resume this session", "Continue the session shown read-only", chat.action_resume)
        yield SystemCommand(
            "Toggle cells pane", "Show or hide the code cells (F2)", lambda: chat.action_toggle_pane("cells")
        )
        yield SystemCommand(
            "Toggle calls pane", "Show or hide the call tree (F3)", lambda: chat.action_toggle_pane("tree")
        )
        yield SystemCommand("Maximize pane", "Maximize the focused pane (F5)", chat.action_maximize_focused)
        yield SystemCommand("Wider side panes", "F8", lambda: chat.action_resize_side(1))
        yield SystemCommand("Narrower side panes", "F7", lambda: chat.action_resize_side(-1))
        yield SystemCommand(
            "Both side panes",
            "Show or hide the cells and calls panes together (F4)",
            lambda: chat.action_toggle_pane("side"),
        )
        yield SystemCommand("Message editor", "Focus the editor (Ctrl+L)", chat.action_focus_prompt)
        for title, help_text, text in [
            ("Load a file", "Attach a file as `context` (/load PATH [as NAME])", "/load "),
            ("Root model", "Switch the root model for the next turns (/model provider/name)", "/model "),
            ("Sub-model", "Switch the model of sub-calls (/sub-model provider/name)", "/sub-model "),
        ]:
            yield SystemCommand(title, help_text, lambda text=text: chat.start_command(text))
        for title, help_text, command in [
            ("REPL variables", "Show the variable table (/vars)", "/vars"),
            ("Export as Markdown", "Write this session to rlm-<id>.md (/export md)", "/export md"),
            ("Export as JSONL", "Write this session in the rlm log format (/export jsonl)", "/export jsonl"),
            ("Fork here", "Continue from the last turn in a new session (/fork)", "/fork"),
        ]:
            yield SystemCommand(
                title, help_text, lambda command=command: self.run_worker(chat.run_command(command))
            )
        yield SystemCommand("Help", "Keys and commands (F1)", self.show_help)

    async def action_quit(self) -> None:
        await self.controller.close()
        self.exit()
