"""The chat screen: chat pane and editor on the left, cells and the call tree on the right, the
status bar below. Live turns and recorded sessions are drawn by the same code, from events."""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Static, Tree

from rlm_tui.errors import RlmError
from rlm_tui.events import Event, nodes
from rlm_tui.services.formatting import size_unit
from rlm_tui.ui import actions, commands
from rlm_tui.ui.mentions import attachments_in
from rlm_tui.ui.pump import EventPump
from rlm_tui.ui.screens.chat_features import ChatFeatures
from rlm_tui.ui.view_model import Changes, ViewModel
from rlm_tui.ui.widgets.calltree import CallTree
from rlm_tui.ui.widgets.cells import CellsView, CellWidget
from rlm_tui.ui.widgets.chat import ChatView
from rlm_tui.ui.widgets.prompt import CompletionList, PromptArea
from rlm_tui.ui.widgets.status import StatusBar

SIDE_WIDTHS = (35, 45, 55, 65)  # percent of the screen for the cells+calls column
NARROW = 100  # columns: narrower, the side panes fold away and the chat takes the width


class ChatColumn(Vertical):
    """The chat and the editor: maximized together, so typing goes on while the chat fills the screen."""

    ALLOW_MAXIMIZE = True


class ChatScreen(ChatFeatures, Screen):
    ACTIONS = actions.CHAT_ACTIONS
    BINDINGS = actions.bindings(ACTIONS)

    def __init__(self) -> None:
        super().__init__()
        self.model = ViewModel()
        self.pump = EventPump(self.model, self.render_changes, lambda delay, fn: self.set_timer(delay, fn))
        self.read_only_id: str | None = None
        self.title_pending = False  # a new session takes its title from its first message
        self.side_width = 1
        self.animate = True
        # Messages go one at a time, each to the end of its drawing: a message sent as the last
        # turn ends waits for that turn's answer to be drawn instead of cutting it off.
        self._sending = asyncio.Lock()
        self._footer_busy = False
        self._narrow = False
        self.closing = False  # the app is shutting down: nothing more is drawn

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("rlm-tui · new session", id="title", markup=False)
        with Horizontal(id="main"):
            with ChatColumn(id="left"):
                yield ChatView(id="chat")
                yield CompletionList(id="completion")
                yield PromptArea(
                    id="prompt", placeholder="Ask anything · Enter sends · /help · @path attaches"
                )
            with Vertical(id="side"):
                yield CellsView(id="cells")
                yield CallTree(self.model, id="tree")
        yield StatusBar(self.model, id="status")
        yield Footer()

    def on_mount(self) -> None:
        app = self.app
        self.animate = app.animate
        self.cells.syntax = app.syntax_style()
        app.workspace.bus.subscribe(self.pump)
        self.call_after_refresh(app.startup)  # the first frame is drawn before any heavy work
        self.query_one("#completion").display = False
        self.query_one("#cells").border_title = "Cells"
        self.query_one("#tree").border_title = "Calls"
        self.set_interval(0.1, self._tick)
        self.query_one(PromptArea).theme_names = sorted(self.app.available_themes)
        self.setup_features()
        self.refresh_status()
        self.query_one(PromptArea).focus()

    @property
    def chat(self) -> ChatView:
        return self.query_one(ChatView)

    @property
    def cells(self) -> CellsView:
        return self.query_one(CellsView)

    @property
    def tree(self) -> CallTree:
        return self.query_one(CallTree)

    @property
    def workspace(self):
        return self.app.workspace

    def _tick(self) -> None:
        if not self.animate:
            return
        self.tree.tick()
        if self.model.last_turn is not None and self.model.last_turn.status == "running":
            self.refresh_status()

    def refresh_status(self) -> None:
        status = self.query_one(StatusBar)
        config = self.workspace.config
        status.root_model, status.sub_model = config.model, config.sub_model
        if self.read_only_id and self.model.models[0]:  # a recorded session: the models it used
            status.root_model, status.sub_model = self.model.models
        status.sandbox = self.app.sandbox_level
        status.mode = "read-only" if self.read_only_id else ""
        status.animate = self.animate
        status.refresh_status()
        self.refresh_chips()
        self.refresh_hints()
        busy = bool(self.workspace.busy)
        if busy != self._footer_busy:  # the footer offers Esc only while a turn runs
            self._footer_busy = busy
            self.refresh_bindings()

    def set_title(self, text: str) -> None:
        self.query_one("#title", Static).update(text)

    # -- drawing changes ---------------------------------------------------------------------

    def stop_drawing(self) -> None:
        """The app is closing: events still arriving (a turn's last ones) are no longer drawn,
        so no redraw reaches a widget that shutdown has already removed."""
        self.closing = True
        self.pump.paused = True

    async def render_changes(self, changes: Changes) -> None:
        if self.closing:
            return
        model = self.model
        for number in changes.new_turns:
            await self.chat.add_turn(model.turns[number])
            await self.cells.show_turn(number, [])
        for number in changes.new_drafts:
            if number in self.chat.assistants:
                await self.chat.assistants[number].restart_draft()
        for number, text in changes.drafts.items():  # the message knows whether it is drafting
            if number in self.chat.assistants:
                await self.chat.assistants[number].append_draft(text)
        for number in changes.drafts_done:
            if number in self.chat.assistants:
                await self.chat.assistants[number].complete_draft()
        shown = [model.cells[c] for c in changes.new_cells if model.cells[c].turn == self.cells.turn]
        if shown:
            await self.cells.add_cells(shown)
        self.cells.refresh_cells(changes.cells)
        if changes.new_nodes:
            self.tree.add_nodes(changes.new_nodes)
        self.tree.refresh_nodes(changes.nodes)
        if changes.new_turns and self.title_pending:
            self.title_pending = False  # a session is named after its first message, as in the browser
            from rlm_tui.services.catalog import title_from

            session = self.workspace.session
            sid = f" · {session.session_id}" if session is not None else ""
            self.set_title(f"rlm-tui · {title_from(model.turns[changes.new_turns[0]].user)}{sid}")
        for number in sorted(changes.turns):
            turn = model.turns[number]
            if turn.status != "running" and number in self.chat.assistants:
                await self.chat.assistants[number].finish()
        for _, message in changes.notices:
            await self.chat.add_notice(message)
        for number, message in changes.compactions:
            if number == self.cells.turn:
                await self.cells.add_note(message)
        self.refresh_status()

    async def show_recorded(self, events: list[Event], title: str) -> None:
        """Draw a recorded session (or a converted trajectory log) from its events at once."""
        # Only the chat shows it is loading: the editor (and the panes) stay usable, so keys typed
        # meanwhile arrive in order (a loading container disables, and unfocuses, what is in it).
        self.chat.loading = True
        try:
            await self._show_recorded(events, title)
        finally:
            self.chat.loading = False

    async def _show_recorded(self, events: list[Event], title: str) -> None:
        await self.reset()
        changes = self.model.apply_all(events)
        await self.chat.show_history([self.model.turns[n] for n in sorted(self.model.turns)])
        last = self.model.last_turn
        if last is not None:
            await self.cells.show_turn(last.number, [self.model.cells[c] for c in last.cells])
        self.tree.add_nodes(
            [n for n in changes.new_nodes if self.model.nodes[n].kind == "turn"], expand_new=False
        )
        if last is not None:
            self._add_subtree(nodes.turn(last.number))
            self.tree.tree_nodes[nodes.turn(last.number)].expand_all()
        self.set_title(title)
        self.refresh_status()

    def _add_subtree(self, node_id: str) -> None:
        """Turns of a recorded session get their nodes when first expanded (a long session has
        thousands)."""
        order: list[str] = []
        stack = list(reversed(self.model.nodes[node_id].children))
        while stack:
            current = stack.pop()
            order.append(current)
            stack.extend(reversed(self.model.nodes[current].children))
        self.tree.add_nodes(order, expand_new=False)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        node_id = event.node.data
        if (
            node_id
            and not event.node.children
            and self.model.nodes.get(node_id)
            and self.model.nodes[node_id].children
        ):
            self._add_subtree(node_id)

    async def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        node_id = event.node.data
        if not node_id:
            return
        turn = nodes.turn_of(node_id)
        if turn != self.cells.turn and turn in self.model.turns:
            await self.cells.show_turn(turn, [self.model.cells[c] for c in self.model.turns[turn].cells])

    @on(CellWidget.OpenOutput)
    def open_output(self, message: CellWidget.OpenOutput) -> None:
        from rlm_tui.ui.screens.detail import OutputScreen

        self.app.push_screen(OutputScreen(message.cell))

    @on(CallTree.OpenDetail)
    def open_detail(self, message: CallTree.OpenDetail) -> None:
        from rlm_tui.ui.screens.detail import NodeDetailScreen

        self.app.push_screen(NodeDetailScreen(message.node))

    async def reset(self) -> None:
        """Forget what is drawn (a new, resumed or recorded session is about to be shown)."""
        self.model = ViewModel()
        self.pump.model = self.model
        self.tree.model = self.model
        self.query_one(StatusBar).model = self.model
        await self.chat.clear_all()
        await self.cells.show_turn(0, [])
        self.tree.clear_all()

    # -- sending -----------------------------------------------------------------------------

    async def on_prompt_area_submitted(self, message: PromptArea.Submitted) -> None:
        text = message.text
        self.query_one(PromptArea).forget_recall()
        if text.startswith("/") and not self.app.startup_done.is_set():
            self.run_command_when_ready(text)  # typed while the session opens: run once it is open
            return
        if text.startswith("/"):
            self.query_one(PromptArea).sent_history.remember(text)
            if commands.in_background(text):
                self.run_worker(self.run_in_background(text), group="command")
            else:
                await self.run_command(text)
            return
        if self.read_only_id:
            self.notify(
                "This is a read-only view. Ctrl+R resumes the session; Ctrl+N starts a new one.",
                severity="warning",
            )
            self.query_one(PromptArea).give_back(text)
            return
        if self.workspace.busy or self.queued:  # sent when the turn ends, in order
            self.queue_message(text)
            return
        self.send(text)

    @work(group="turn")
    async def send(self, text: str) -> None:
        # A message typed while the app starts goes to the session start-up opens (or resumes).
        await self.app.startup_done.wait()
        await self.background_done()  # a file being loaded (/load) is in before the message goes
        async with self._sending:
            await self._send(text)
        self.after_turn()

    async def _send(self, text: str) -> None:
        try:
            for path in attachments_in(text):
                attachment = await self.attach_file(path)
                await self.chat.add_notice(
                    f"attached {attachment.name} ({attachment.type}, {attachment.size:,} {size_unit(attachment.type)})"
                )
            await self.workspace.send(text)
        except (RlmError, OSError) as exc:  # the app stays open and says why
            await self.chat.add_notice(f"✗ {exc}", error=True)
            self.query_one(PromptArea).give_back(text)  # nothing was sent: the message comes back
        finally:
            await self.pump.flush()
            self.refresh_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc cancels only while a turn runs: at other times (a read-only view, an idle chat) the
        footer does not offer it."""
        if action == "cancel_turn":
            return bool(self.workspace.busy)
        if action in ("search_step", "search_jump"):  # while a search is open; n and N where not typed
            return self.search_open() and (action == "search_jump") == self.typing()
        return True

    def action_cancel_turn(self) -> None:
        if self.workspace.cancel():
            self.notify("Cancelling: the running cell is interrupted, sub-calls are stopped.")

    # -- slash commands ---------------------------------------------------------------------

    async def run_command(self, text: str) -> None:
        await commands.run(self, text)

    @work(group="turn")
    async def run_command_when_ready(self, text: str) -> None:
        """A command typed while the app starts runs, in order with messages, on the session
        start-up opens (``/fork 3`` forks the resumed session, not nothing)."""
        await self.app.startup_done.wait()
        async with self._sending:
            await self.run_command(text)

    async def show_vars(self, table: str) -> None:
        from rlm_tui.ui.widgets.vars import VarsTable

        await self.chat.mount(VarsTable(table))
        self.chat.scroll_end(animate=False)

    # -- actions ---------------------------------------------------------------------------

    def action_help(self) -> None:
        self.app.show_help()

    def action_sessions(self) -> None:
        from rlm_tui.ui.screens.sessions import SessionsScreen

        self.app.push_screen(SessionsScreen())

    async def action_new_session(self) -> None:
        await self.app.start_new_session()

    async def action_resume(self) -> None:
        if self.read_only_id is None:
            return
        if self.app.view is not None:
            self.notify(
                "This is a trajectory log, not a recorded session: it can be viewed, not resumed.",
                severity="warning",
            )
            return
        await self.app.resume_session(self.read_only_id)

    def action_toggle_pane(self, pane: str) -> None:
        widget = self.query_one(f"#{pane}")
        side = self.query_one("#side")
        if pane != "side" and not side.display:  # collapsed (a narrow terminal): show just that pane
            self.cells.display, self.tree.display = pane == "cells", pane == "tree"
            side.display = True
            return
        widget.display = not widget.display
        if pane != "side":
            side.display = self.cells.display or self.tree.display
        elif side.display and not (self.cells.display or self.tree.display):
            self.cells.display = self.tree.display = True

    def on_resize(self, event: Resize) -> None:
        """Below NARROW columns the chat takes the whole width and the side panes fold away
        (F2, F3 or F4 bring them back); widened again, they return."""
        narrow = event.size.width < NARROW
        if narrow != self._narrow:
            self._narrow = narrow
            self.query_one("#side").display = not narrow
            if not narrow:
                self.cells.display = self.tree.display = True
            self.set_class(narrow, "-narrow")

    def action_maximize_focused(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        while focused is not None and focused.id not in ("chat", "cells", "tree", "left"):
            focused = focused.parent  # type: ignore[assignment]
        if focused is not None:
            self.maximize(
                focused if focused.id not in ("left", "chat") else self.query_one("#left"), container=False
            )

    def action_resize_side(self, step: int) -> None:
        self.side_width = max(0, min(len(SIDE_WIDTHS) - 1, self.side_width + step))
        self.query_one("#side").styles.width = f"{SIDE_WIDTHS[self.side_width]}%"

    def action_focus_prompt(self) -> None:
        self.query_one(PromptArea).focus()

    def start_command(self, text: str) -> None:
        """Put the start of a slash command in the editor (from the palette), to be completed."""
        prompt = self.query_one(PromptArea)
        if prompt.disabled:
            self.notify("This is a read-only view: Ctrl+R resumes it, Ctrl+N starts a new session.")
            return
        prompt.text = text
        prompt.move_cursor(prompt.document.end)
        prompt.focus()

    def set_read_only(self, session_id: str | None) -> None:
        self.read_only_id = session_id
        prompt = self.query_one(PromptArea)
        prompt.disabled = session_id is not None
        if session_id is None:
            prompt.placeholder = "Ask anything · Enter sends · /help · @path attaches"
        elif self.app.view is not None:
            prompt.placeholder = "Read-only view of a trajectory log · Ctrl+N starts a new session"
        else:
            prompt.placeholder = "Read-only view · Ctrl+R resumes this session · Ctrl+N starts a new one"
        if session_id is None and self.focused is None:  # never takes the focus from where the user is
            prompt.focus()
        self.refresh_status()
