"""Snapshot tests of the main screens (pytest-textual-snapshot): the chat screen mid-turn and after,
the session browser and the help screen. The session is a fixed set of events, drawn by the same
code as a live turn, so every run looks the same."""

from __future__ import annotations

import time

import pytest

from rlm_tui.store.recorder import Recorder
from rlm_tui.store.sessions import Store
from tests.ui import scenario
from tests.ui.conftest import make_app, wait_for

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


@pytest.fixture
def fixed_clock(home, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def _draw(pilot, events, title="rlm-tui · fruit counting · " + scenario.SID) -> None:
    app = pilot.app
    await wait_for(app.startup_done.is_set, pilot)
    chat = app.chat
    await chat.reset()
    app.sandbox_level = "bubblewrap"
    chat.query_one("#prompt").cursor_blink = False
    await chat.render_changes(chat.model.apply_all(events))
    chat.set_title(title)
    await pilot.pause()


@SIZES
def test_chat_screen_mid_turn(snap_compare, fixed_clock, size):
    events = scenario.first_turn() + scenario.second_turn_running()

    async def run_before(pilot) -> None:
        await _draw(pilot, events)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@SIZES
def test_chat_screen_after_the_turn(snap_compare, fixed_clock, size):
    events = scenario.first_turn() + scenario.second_turn_running() + scenario.second_turn_finished()

    async def run_before(pilot) -> None:
        await _draw(pilot, events)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@SIZES
def test_session_browser(snap_compare, fixed_clock, home, size):
    store = Store(home / "sessions.db")
    recorder = Recorder(store.db)
    events = scenario.first_turn() + scenario.second_turn_running() + scenario.second_turn_finished()
    for event in events:
        recorder(event)
    other = [e for e in scenario.first_turn()]
    for event in other:
        data = event.to_dict()
        data.update(session_id="20261120-090000-def456", t=data["t"] - 86_400 * 2)
        from rlm_tui.events import event_from_dict

        recorder(event_from_dict(data))
    store.rename("20261120-090000-def456", "Fruit names, first try")
    store.close()

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.press("ctrl+o")
        await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
        table = app.screen.query_one("DataTable")
        await wait_for(lambda: table.row_count >= 2, pilot)
        await pilot.pause(0.3)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@SIZES
def test_help_screen(snap_compare, fixed_clock, size):
    async def run_before(pilot) -> None:
        await _draw(pilot, scenario.first_turn())  # what shows behind the help must not vary
        await pilot.press("f1")
        await wait_for(lambda: pilot.app.screen.__class__.__name__ == "HelpScreen", pilot)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
