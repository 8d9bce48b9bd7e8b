"""Copy from the keyboard, the queue of messages sent while a turn runs, and the focus keys."""

from __future__ import annotations

import asyncio

from textual.widgets._footer import FooterKey

from rlm_tui.ui.screens.picker import PickerScreen
from rlm_tui.ui.widgets.cells import CellWidget
from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for

SIZE = (120, 36)


async def test_f6_copies_the_last_answer_a_message_or_a_cells_code_and_output(home):
    app = make_app(root=[repl("print('the cell said hi')\nFINAL('the **answer**')")])
    copied: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        app.copy_to_clipboard = copied.append  # the OSC 52 write: what would reach the terminal
        await wait_for(app.startup_done.is_set, pilot)
        footer_keys = {(k.key, k.description) for k in app.screen.query(FooterKey)}
        assert ("f6", "Copy") in footer_keys  # the key is shown where a user looks for it
        await send(pilot, app, "say hi from a cell")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.press("f6")
        await wait_for(lambda: isinstance(app.screen, PickerScreen), pilot)
        await pilot.press("enter")  # the first entry: the last answer
        await wait_for(lambda: app.screen is app.chat, pilot)
        assert copied == ["the **answer**"]

        await pilot.press("f6")
        await wait_for(lambda: isinstance(app.screen, PickerScreen), pilot)
        await pilot.press(*"output")  # typing filters the list
        await pilot.press("enter")
        await wait_for(lambda: app.screen is app.chat, pilot)
        assert copied[-1] == "the cell said hi\n"

        await pilot.press("f6")
        await wait_for(lambda: isinstance(app.screen, PickerScreen), pilot)
        await pilot.press(*"your message", "enter")
        await wait_for(lambda: app.screen is app.chat, pilot)
        assert copied[-1] == "say hi from a cell"

        app.chat.query_one(CellWidget).focus()  # the focused cell's code comes first
        await pilot.press("f6")
        await wait_for(lambda: isinstance(app.screen, PickerScreen), pilot)
        await pilot.press("enter")
        await wait_for(lambda: app.screen is app.chat, pilot)
        assert copied[-1].startswith("print('the cell said hi')")

        await app.chat.run_action("copy_last_answer")  # the palette's direct entry
        assert copied[-1] == "the **answer**"


async def test_a_message_sent_while_busy_is_queued_then_sent_when_the_turn_ends(home):
    gate = asyncio.Event()
    answers = iter(["first", "second", "third"])

    async def responder(request):
        answer = next(answers)
        if answer == "first":
            await gate.wait()  # the first turn runs until the test lets it finish
        return repl(f"FINAL({answer!r})")

    app = make_app(responder=responder)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "one")
        await wait_for(lambda: app.workspace.busy, pilot)
        await send(pilot, app, "two")
        await send(pilot, app, "three")
        prompt = app.chat.query_one("#prompt")
        queued = app.chat.query_one("#queued")
        assert prompt.text == "" and app.chat.queued == ["two", "three"]
        assert queued.display and "queued: two" in str(queued.render())

        await pilot.press("up")  # takes the newest queued message back: cancelled, to edit
        assert prompt.text == "three" and app.chat.queued == ["two"]
        prompt.text = ""

        gate.set()
        await wait_for(turn_done(app, 2), pilot)
        assert [app.chat.model.turns[n].user for n in (1, 2)] == ["one", "two"]
        assert app.chat.model.turns[2].answer == "second"
        assert not queued.display and 3 not in app.chat.model.turns
        await wait_for(lambda: all(w.is_finished for w in app.workers if w.group == "turn"), pilot)


async def test_page_keys_scroll_the_chat_from_the_editor_and_alt_keys_reach_each_pane(home):
    app = make_app(root=[repl("FINAL('\\n\\n'.join(f'line {i}' for i in range(120)))")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "a long answer")
        await wait_for(turn_done(app, 1), pilot)
        chat_view = app.chat.chat
        await wait_for(lambda: chat_view.max_scroll_y > 0, pilot)
        prompt = app.chat.query_one("#prompt")
        await pilot.press("ctrl+end")
        bottom = chat_view.scroll_y
        await pilot.press("pageup")
        assert chat_view.scroll_y < bottom and app.focused is prompt
        await pilot.press("ctrl+home")
        assert chat_view.scroll_y == 0
        await pilot.press("pagedown")
        assert chat_view.scroll_y > 0 and app.focused is prompt

        await pilot.press("f3")  # hide the call tree: its key shows it again
        assert not app.chat.tree.display
        await pilot.press("alt+3")
        assert app.chat.tree.display and app.focused is app.chat.tree
        await pilot.press("alt+2")
        assert app.focused is app.chat.cells
        await pilot.press("alt+1")
        assert app.focused is prompt


async def test_typing_in_the_session_browser_goes_to_its_search_box(home):
    app = make_app(root=[repl("FINAL('kept')"), repl("FINAL('also kept')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "store a number")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.press("ctrl+n")
        await wait_for(lambda: app.workspace.session is not None and app.workspace.session.turns == 0, pilot)
        await send(pilot, app, "something else")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.press("ctrl+o")
        await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
        table = app.screen.query_one("DataTable")
        await wait_for(lambda: table.row_count == 2, pilot)
        assert app.focused is table
        await pilot.press(*"store")  # "s" is no browser key; "r" and "e" after it are typed too
        search = app.screen.query_one("#search")
        assert app.focused is search and search.value == "store"
        await wait_for(lambda: table.row_count == 1, pilot)
        assert app.screen.__class__.__name__ == "SessionsScreen"  # "r" resumed nothing


async def test_empty_panes_say_what_will_appear_there_until_it_does(home):
    app = make_app(root=[repl("print('hi')\nFINAL('done')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        cells_hint, tree_hint = app.chat.query_one("#cells-hint"), app.chat.query_one("#tree-hint")
        assert cells_hint.display and "the Python the model runs" in str(cells_hint.render())
        assert tree_hint.display and "model call" in str(tree_hint.render())
        await send(pilot, app, "run a cell")
        await wait_for(turn_done(app, 1), pilot)
        await wait_for(lambda: not cells_hint.display and not tree_hint.display, pilot)
        await pilot.press("ctrl+n")  # a new session: empty again, and the hints say so again
        await wait_for(lambda: cells_hint.display and tree_hint.display, pilot)
