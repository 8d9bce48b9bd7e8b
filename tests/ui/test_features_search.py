"""Search within the conversation and its cells (Ctrl+F), going from match to match."""

from __future__ import annotations

from rlm_tui.ui.widgets.cells import CellWidget
from rlm_tui.ui.widgets.chat import AssistantMessage, UserMessage
from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for
from tests.ui.screen_text import screen_text

SIZE = (120, 36)


def hit(app):
    return next(iter(app.chat.query(".-search-hit")), None)


async def test_ctrl_f_finds_messages_answers_and_cell_output_newest_first(home):
    app = make_app(
        root=[
            repl("FINAL('nothing here')"),
            # the code spells the word in halves: only the output and the answer hold it
            repl("print('a NEE' + 'DLE in the output')\nFINAL('plain')"),
            repl("FINAL('the nee' + 'dle again, in an answer')"),
        ]
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        for number, text in enumerate(["find the needle", "second", "third"], start=1):
            await send(pilot, app, text)
            await wait_for(turn_done(app, number), pilot)
        await pilot.press("ctrl+f")
        bar = app.chat.query_one("#search-bar")
        assert bar.display and app.focused is bar.query_one("#search")
        await pilot.press(*"needle")
        count = bar.query_one("#search-count")
        await wait_for(lambda: "1/3" in str(count.render()) or "3/3" in str(count.render()), pilot)
        widget = hit(app)
        assert isinstance(widget, AssistantMessage) and widget.turn.number == 3
        assert "3/3 · turn 3 · answer" in str(count.render())

        await pilot.press("enter")  # one further back: the cell's output, its turn shown in the cells
        await wait_for(lambda: isinstance(hit(app), CellWidget), pilot)
        assert hit(app).cell.turn == 2 and app.chat.cells.turn == 2
        assert "2/3" in str(count.render()) and "output" in str(count.render())

        await pilot.press("up")
        await wait_for(lambda: isinstance(hit(app), UserMessage), pilot)
        assert hit(app).turn.number == 1
        assert app.chat.chat.scroll_y < app.chat.chat.max_scroll_y  # scrolled up to it

        await pilot.press("enter")  # past the oldest: back to the newest
        await wait_for(lambda: isinstance(hit(app), AssistantMessage), pilot)
        await pilot.press("down")  # Down goes later: from the newest, around to the oldest
        await wait_for(lambda: isinstance(hit(app), UserMessage), pilot)

        await pilot.press(*"zzz")
        await wait_for(lambda: "no match" in str(count.render()), pilot)
        assert hit(app) is None
        await pilot.press("escape")
        assert not bar.display and app.focused is app.chat.query_one("#prompt")
        assert len(app.chat.model.turns) == 3  # Esc closed the search, it cancelled nothing


def at(app) -> tuple[str, int] | None:
    """Where the search's current match is: ("answer" | "user" | "cell", turn)."""
    widget = hit(app)
    if widget is None:
        return None
    if isinstance(widget, CellWidget):
        return "cell", widget.cell.turn
    return ("answer" if isinstance(widget, AssistantMessage) else "user"), widget.turn.number


async def test_n_and_shift_n_step_through_matches_from_the_chat_and_ctrl_g_from_the_search_box(home):
    app = make_app(root=[repl("FINAL('first apple')"), repl("FINAL('second apple')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        for number, text in enumerate(["one", "two"], start=1):
            await send(pilot, app, text)
            await wait_for(turn_done(app, number), pilot)
        footer = app.chat.query_one("Footer")
        assert "Next match" not in screen_text(app)  # no search: nothing to step through
        await pilot.press("n")  # a letter typed in the editor, not a search key
        assert app.chat.query_one("#prompt").text == "n"
        app.chat.query_one("#prompt").text = ""

        await pilot.press("ctrl+f", *"apple")
        await wait_for(lambda: at(app) == ("answer", 2), pilot)
        await wait_for(lambda: "^g Next match" in screen_text(app), pilot)  # the search box: Ctrl+G
        await pilot.press("ctrl+g")  # the earlier match (turn 2's cell), the search box keeps its text
        await wait_for(lambda: at(app) == ("cell", 2), pilot)
        assert app.chat.query_one("#search").value == "apple"

        app.chat.chat.focus()  # reading the chat: n and N
        await wait_for(
            lambda: "n Next match" in screen_text(app) and "N Prev match" in screen_text(app), pilot
        )
        await pilot.press("n")
        await wait_for(lambda: at(app) == ("answer", 1), pilot)
        await pilot.press("N")
        await wait_for(lambda: at(app) == ("cell", 2), pilot)
        assert footer.display

        app.chat.query_one("#search").focus()
        await pilot.press("escape")  # closed: n and N are letters again, the footer drops them
        await wait_for(lambda: "Next match" not in screen_text(app), pilot)
        app.chat.chat.focus()
        await pilot.press("n")
        await pilot.pause()
        assert hit(app) is None
