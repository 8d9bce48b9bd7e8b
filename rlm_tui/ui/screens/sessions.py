"""The session browser: sessions with a full-text search box, a preview of the selected one, and
keys to open it read-only, resume, fork, rename, export or delete it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Markdown, Static

from rlm_tui.errors import RlmError, UsageError
from rlm_tui.services.formatting import clip, plural, when
from rlm_tui.ui.actions import ScreenAction, bindings
from rlm_tui.ui.screens.dialogs import AskScreen, ConfirmScreen

LIST_LIMIT = 500


def _models(root: str | None, sub: str | None) -> str:
    """Root and sub-model without their provider, the sub-model's name shortened where it shares a
    family prefix with the root's ("claude-sonnet-5-5 / haiku-5-5")."""
    root_name = (root or "-").split("/", 1)[-1]
    sub_name = (sub or "-").split("/", 1)[-1]
    family = root_name.split("-", 1)[0] + "-"
    if sub_name.startswith(family) and len(sub_name) > len(family):
        sub_name = sub_name[len(family) :]
    return clip(f"{root_name} / {sub_name}", 36)


def said(action: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """A browser action whose failure (a damaged database, a session deleted meanwhile) is said
    in a notification: the browser stays open."""

    @functools.wraps(action)
    async def run(self: SessionsScreen, *args: object) -> None:
        try:
            await action(self, *args)
        except RlmError as exc:
            self.notify(str(exc), severity="error", markup=False)

    return run


class SessionTable(DataTable):
    BINDINGS = [Binding("enter", "select_cursor", "Open", show=True)]

    def on_key(self, event: events.Key) -> None:
        """A letter that is none of the browser's keys (r, f, n, e, d) starts a search with it."""
        keys = {action.key for action in getattr(self.screen, "ACTIONS", ())}
        if event.character and event.is_printable and event.key not in keys and event.character != " ":
            event.stop()
            event.prevent_default()
            search = self.screen.query_one("#search", Input)
            search.select_on_focus = False  # it would select the letter, and the next one replace it
            search.insert_text_at_cursor(event.character)
            search.focus()


class SessionsScreen(Screen):
    ACTIONS = (
        ScreenAction("open", "Open read-only", "Show the selected session's turns, cells and calls (Enter)"),
        ScreenAction("back", "Back", "Close the browser, back to the chat", key="escape"),
        ScreenAction("resume", "Resume", "Continue the selected session, with its REPL variables", key="r"),
        ScreenAction("fork", "Fork", "A new session from the selected one's turn N", key="f"),
        ScreenAction("rename", "Rename", "Give the selected session a new title", key="n"),
        ScreenAction("export", "Export", "Write the selected session as Markdown or JSONL", key="e"),
        ScreenAction("delete", "Delete", "Delete the selected session, after asking", key="d"),
        ScreenAction("search", "Search", "Full-text search over messages and code", key="slash"),
    )
    BINDINGS = bindings(ACTIONS)

    def __init__(self) -> None:
        super().__init__()
        self.snippets: dict[str, str] = {}
        self._search_timer = None
        self._busy = False  # a dialog is open, or the browser is closing

    def compose(self) -> ComposeResult:
        yield Static("Sessions", id="title", markup=False)
        yield Input(placeholder="Search messages and code of every session…", id="search")
        with Horizontal(id="browser"):
            yield SessionTable(id="sessions", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="preview-scroll"):
                yield Markdown("", id="preview")
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # The key columns first: on a narrow terminal the models are what is cut off.
        table.add_columns("Title", "Updated", "Turns", "Cost", "Models (root / sub)")
        table.focus()
        await self.load_sessions()

    @property
    def catalog(self):
        return self.app.workspace.catalog

    async def load_sessions(self, query: str = "") -> None:
        catalog = await self.app.workspace.open_catalog()
        table = self.query_one(DataTable)
        if query.strip():
            hits = await asyncio.to_thread(catalog.search, query, 200)
            self.snippets = {}
            order: list[str] = []
            for hit in hits:
                if hit.session_id not in self.snippets:
                    order.append(hit.session_id)
                    self.snippets[hit.session_id] = f"turn {hit.turn} ({hit.where}): {hit.snippet}"
            rows = await asyncio.to_thread(lambda: [catalog.get(s) for s in order])
        else:
            self.snippets = {}
            rows = await asyncio.to_thread(catalog.list, LIST_LIMIT)
        table.clear()
        for row in rows:
            table.add_row(  # Text, not str: a title like "[draft]" is never read as markup
                Text(("↳ " if row.parent_session else "") + clip(row.title or "(untitled)", 34)),
                Text(when(row.updated)),
                Text(str(row.turns), justify="right"),
                Text(row.cost_text(), justify="right"),
                Text(_models(row.root_model, row.sub_model)),
                key=row.id,
            )
        title = f"Sessions · {len(rows)}" + (f" matching {query!r}" if query.strip() else "")
        self.query_one("#title", Static).update(title)
        if not rows:
            await self.query_one("#preview", Markdown).update(
                "_No sessions yet. Ask something in the chat to start one._"
                if not query
                else "_Nothing found._"
            )

    def on_resize(self, event: events.Resize) -> None:
        """Narrower than 100 columns the list takes the width; the preview folds away."""
        self.set_class(event.size.width < 100, "-narrow")

    def selected_id(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return key.value

    async def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self.show_preview(event.row_key.value)

    @work(exclusive=True, group="preview")
    @said
    async def show_preview(self, session_id: str) -> None:
        catalog = self.catalog
        info = await asyncio.to_thread(catalog.get, session_id)
        history = await asyncio.to_thread(catalog.history, session_id)
        lines = [
            f"## {info.title or '(untitled)'}",
            "",
            f"`{info.id}`  ",
            f"models: {info.root_model} / {info.sub_model}  ",
            f"created {when(info.created)} · updated {when(info.updated)}  ",
            f"{plural(info.turns, 'turn')} · {info.input_tokens + info.output_tokens:,} tokens · {info.cost_text()}",
        ]
        if info.parent_session:
            lines.append(f"  \nforked from `{info.parent_session}` at turn {info.parent_turn}")
        if session_id in self.snippets:
            lines += ["", f"**Match** — {self.snippets[session_id]}"]
        for entry in history[-6:]:
            who = "You" if entry["role"] == "user" else "Answer"
            lines += ["", f"**{who}** (turn {entry['turn']}): {clip(entry['content'], 400)}"]
        await self.query_one("#preview", Markdown).update("\n".join(lines))

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(
            0.15, lambda: self.run_worker(self.load_sessions(event.value), exclusive=True, group="search")
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_back(self) -> None:
        if not self._busy:
            self.app.pop_screen()

    def _turn_running(self) -> bool:
        """While a turn runs, the chat stays on it: opening another session would mix their events."""
        if self.app.workspace.busy:
            self.notify(
                "A turn is running in the chat: wait for it, or go back (Esc) and cancel it (Esc), first.",
                severity="warning",
            )
            return True
        return False

    def _leave(self, kind: str, session_id: str) -> None:
        """Close the browser and let the app open the session. The app's own worker does it: a
        worker of this screen would be cancelled when the screen goes."""
        if self._turn_running():
            return
        self._busy = True
        self.app.pop_screen()
        target = self.app.view_session if kind == "view" else self.app.resume_session
        self.app.run_worker(target(session_id), exclusive=True, group="switch-session")

    def action_open(self) -> None:
        session_id = self.selected_id()
        if session_id and not self._busy and self.focused is not self.query_one("#search"):
            self._leave("view", session_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_resume(self) -> None:
        session_id = self.selected_id()
        if session_id and not self._busy:
            self._leave("resume", session_id)

    async def _ask(self, dialog) -> object:
        """One dialog at a time: keys pressed meanwhile (a paste of letters) do nothing."""
        self._busy = True
        try:
            return await self.app.push_screen_wait(dialog)
        finally:
            self._busy = False

    @work(exclusive=True, group="dialog")
    @said
    async def action_fork(self) -> None:
        session_id = self.selected_id()
        if not session_id or self._busy or self._turn_running():
            return
        info = self.catalog.get(session_id)
        answer = await self._ask(
            AskScreen(f"Fork {info.title!r} at which turn (1..{info.turns})?", str(info.turns))
        )
        if not answer:
            return
        try:
            new_id = self.catalog.fork(session_id, int(answer))
        except (UsageError, ValueError) as exc:
            digits = answer.strip().isdigit()
            self.notify(
                str(exc) if digits else f"the turn is a number from 1 to {info.turns}, not {answer!r}",
                severity="error",
                markup=False,
            )
            return
        self._leave("resume", new_id)

    @work(exclusive=True, group="dialog")
    @said
    async def action_rename(self) -> None:
        session_id = self.selected_id()
        if not session_id or self._busy:
            return
        title = await self._ask(AskScreen("New title:", self.catalog.get(session_id).title))
        if title:
            self.catalog.rename(session_id, title)
            await self.load_sessions(self.query_one("#search", Input).value)
            table = self.query_one(DataTable)
            with contextlib.suppress(Exception):  # keep the cursor on the renamed session
                table.move_cursor(row=table.get_row_index(session_id))

    @work(exclusive=True, group="dialog")
    @said
    async def action_export(self) -> None:
        session_id = self.selected_id()
        if not session_id or self._busy:
            return
        path = await self._ask(
            AskScreen("Export to (.md for Markdown, .jsonl for the rlm log format):", f"rlm-{session_id}.md")
        )
        if not path:
            return
        try:
            target = self.catalog.export(session_id, path=path)
        except RlmError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.notify(f"Exported to {target}", markup=False)

    @work(exclusive=True, group="dialog")
    @said
    async def action_delete(self) -> None:
        session_id = self.selected_id()
        if not session_id or self._busy:
            return
        info = self.catalog.get(session_id)
        if session_id == getattr(self.app.workspace.session, "session_id", None):
            self.notify(
                "This session is open in the chat: start a new one (Ctrl+N) before deleting it.",
                severity="warning",
            )
            return
        if not await self._ask(
            ConfirmScreen(
                f"Delete {info.title!r} ({plural(info.turns, 'turn')})? This cannot be undone.", "Delete"
            )
        ):
            return
        self.catalog.delete(session_id)
        self.notify(f"Deleted {info.title!r}", markup=False)
        await self.load_sessions(self.query_one("#search", Input).value)
