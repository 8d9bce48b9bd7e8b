"""Search within the conversation and its cells (Ctrl+F), going from match to match."""

from __future__ import annotations

from rlm_tui.ui.widgets.cells import CellWidget
from rlm_tui.ui.widgets.chat import AssistantMessage, UserMessage
from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for

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
