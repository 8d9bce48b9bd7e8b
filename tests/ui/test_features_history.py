"""Input history: Up and Down in the editor walk the messages already sent, across a resume."""

from __future__ import annotations

from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for

SIZE = (120, 36)


async def test_up_and_down_walk_messages_and_commands_in_order_and_keep_the_draft(home):
    app = make_app(root=[repl("FINAL('one')"), repl("FINAL('two')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "first message")
        await wait_for(turn_done(app, 1), pilot)
        await send(pilot, app, "/help")  # a command is in the history too, where it was typed
        await wait_for(lambda: app.screen is not app.chat, pilot)
        await pilot.press("escape")  # close the help screen
        await wait_for(lambda: app.screen is app.chat, pilot)
        await send(pilot, app, "second\nover two lines")
        await wait_for(turn_done(app, 2), pilot)
        prompt = app.chat.query_one("#prompt")
        prompt.focus()
        await pilot.press("d", "r", "a", "f", "t")
        await pilot.press("up")
        assert prompt.text == "second\nover two lines"
        await pilot.press("up")  # from the first line of a multi-line entry: further back
        assert prompt.text == "/help"
        await pilot.press("up")
        assert prompt.text == "first message"
        await pilot.press("up")  # nothing earlier: it stays
        assert prompt.text == "first message"
        await pilot.press("down")
        assert prompt.text == "/help"
        await pilot.press("down")
        assert prompt.text == "second\nover two lines"
        await pilot.press("down")  # from the last line of a multi-line entry: further on, the draft
        assert prompt.text == "draft"


async def test_an_edited_recall_becomes_the_draft(home):
    app = make_app(root=[repl("FINAL('one')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "hello")
        await wait_for(turn_done(app, 1), pilot)
        prompt = app.chat.query_one("#prompt")
        prompt.focus()
        await pilot.press("up", "end", "!")
        assert prompt.text == "hello!"
        await pilot.press("up")  # walking starts again, the edited text kept as the draft
        assert prompt.text == "hello"
        await pilot.press("down")
        assert prompt.text == "hello!"


async def test_a_resumed_session_brings_its_messages_back(home):
    first = make_app(root=[repl("FINAL('a')"), repl("FINAL('b')")])
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(first.startup_done.is_set, pilot)
        await send(pilot, first, "the older question")
        await wait_for(turn_done(first, 1), pilot)
        await send(pilot, first, "the newer question")
        await wait_for(turn_done(first, 2), pilot)
        session_id = first.workspace.session.session_id
        await first.action_quit()

    app = make_app(session_id=session_id)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await wait_for(lambda: app.chat.read_only_id is None and 2 in app.chat.model.turns, pilot)
        prompt = app.chat.query_one("#prompt")
        prompt.focus()
        await pilot.press("up")
        assert prompt.text == "the newer question"
        await pilot.press("up")
        assert prompt.text == "the older question"
