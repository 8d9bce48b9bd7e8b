"""Quitting: Ctrl+Q gives the terminal back at once with everything recorded, and an app closed
while a turn still draws closes cleanly (its workers end before its widgets go)."""

from __future__ import annotations

from rlm_tui.llm.scripted import Reply
from rlm_tui.services.catalog import Catalog
from tests.cli.conftest import ROOT_SYSTEM
from tests.fakes.provider import FakeProvider, Script
from tests.ui.conftest import make_app, send, wait_for
from tests.ui.terminal import Terminal, app_env

RESTORED = (b"\x1b[?1049l", b"\x1b[?25h", b"\x1b[?1000l")  # alternate screen left, cursor, mouse off


def test_ctrl_q_restores_the_terminal_and_leaves_the_session_recorded(tmp_path, monkeypatch):
    script = Script()
    script.on(system_contains=ROOT_SYSTEM, replies=["FINAL(recorded before quitting)"])
    with FakeProvider(script) as provider:
        env = app_env(tmp_path, provider.anthropic_base)
        terminal = Terminal.spawn([], env)
        try:
            terminal.wait_for("Ask anything")
            terminal.child.send("remember this\r")
            terminal.wait_for("recorded before quitting")
            assert terminal.quit() == 0
        finally:
            terminal.child.close()
    session = terminal.transcript.rpartition(b"\x1b[?1049h")[2]  # from entering the app's screen on
    assert all(sequence in session for sequence in RESTORED)
    assert b"Traceback" not in terminal.after_exit()
    monkeypatch.setenv("RLM_HOME", str(tmp_path / "home"))
    with Catalog.open() as catalog:
        sessions = catalog.list()
    assert [(s.title, s.turns) for s in sessions] == [("remember this", 1)]


async def test_closing_while_a_turn_streams_ends_its_workers_first(home):
    """The app closes mid-turn (a reply streaming in): no redraw meets a removed widget."""
    app = make_app(
        responder=lambda request: Reply("Thinking about it " * 400, chunk_chars=8, chunk_delay=0.01)
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "a long reply, please")
        await wait_for(lambda: 1 in app.chat.chat.assistants and app.chat.chat.assistants[1].drafting, pilot)
        workers = [w for w in app.workers if not w.is_finished]
        assert workers  # the send is still drawing when the app closes
    assert all(w.is_finished for w in workers)  # and run_test raised nothing the app met


async def test_a_worker_cancelled_while_it_removes_a_widget_leaves_a_clean_teardown():
    """A redraw replaces a message's body when the app closes and cancels its worker: the removal
    finishes and the app closes (Textual would otherwise cancel the removed widget's own task: its
    parent's teardown then fails with a CancelledError, as a CI run once did, or never ends)."""
    import asyncio

    from textual.app import App
    from textual.containers import Vertical
    from textual.widgets import Static

    from rlm_tui.ui.uninterrupted import whole

    leaving, release, left = asyncio.Event(), asyncio.Event(), asyncio.Event()

    class SlowToLeave(Static):
        async def on_unmount(self) -> None:
            leaving.set()
            await release.wait()
            left.set()

    class Host(App):
        def compose(self):
            with Vertical(id="message"):
                yield SlowToLeave("old body", id="body")

        async def replace_body(self) -> None:
            await whole(self.query_one("#body").remove())

    app = Host()

    async def close_mid_removal() -> None:
        async with app.run_test() as pilot:
            worker = app.run_worker(app.replace_body())
            await leaving.wait()  # the removal is under way
            worker.cancel()
            await asyncio.sleep(0)  # the cancellation is delivered
            release.set()
            await pilot.pause()

    await asyncio.wait_for(close_mid_removal(), timeout=30)  # a bound for failure, not a wait
    assert left.is_set()  # the widget finished leaving
