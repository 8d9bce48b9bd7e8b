"""Undo, retry and edit the last turn: the conversation and the REPL go back together."""

from __future__ import annotations

from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for

SIZE = (120, 36)


def notices(app) -> list[str]:
    return [str(w.render()) for w in app.chat.chat.query(".notice")]


async def test_undo_goes_back_to_a_fork_before_the_turn_then_edit_undoes_the_first(home, tmp_path):
    data = tmp_path / "notes.txt"
    data.write_text("alpha\n")
    app = make_app(root=[repl("x = 1\nFINAL('one')"), repl("x = 2\nFINAL('two')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, f"/load {data}")
        await wait_for(lambda: "notes.txt" in app.workspace.session.attachments, pilot)
        await send(pilot, app, "set x to one")
        await wait_for(turn_done(app, 1), pilot)
        await send(pilot, app, "set x to two")
        await wait_for(turn_done(app, 2), pilot)
        original = app.workspace.session.session_id

        await send(pilot, app, "/undo")
        await wait_for(lambda: app.workspace.session.session_id != original, pilot)
        await wait_for(lambda: any("turn 2 undone" in n for n in notices(app)), pilot)
        assert sorted(app.chat.model.turns) == [1] and app.chat.read_only_id is None
        check = await app.workspace.session.repl.run_cell("print(x)")
        assert check.output == "1\n"  # the REPL went back with the conversation
        assert app.workspace.catalog.get(original).turns == 2  # the old branch is kept

        fork = app.workspace.session.session_id
        await send(pilot, app, "/edit")  # undoing the first turn: a new session, files attached again
        await wait_for(lambda: app.workspace.session.session_id not in (original, fork), pilot)
        prompt = app.chat.query_one("#prompt")
        await wait_for(lambda: prompt.text == "set x to one", pilot)
        assert app.chat.model.turns == {}
        assert "notes.txt" in app.workspace.session.attachments
        check = await app.workspace.session.repl.run_cell("print('x' in globals())")
        assert check.output == "False\n"


async def test_retry_sends_the_last_message_again_from_the_state_before_it(home):
    app = make_app(
        root=[
            repl("x = 1\nFINAL('one')"),
            repl("x = x + 1\nFINAL('first try')"),
            repl("x = x + 10\nFINAL('retried')"),
        ]
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "start")
        await wait_for(turn_done(app, 1), pilot)
        await send(pilot, app, "add something")
        await wait_for(turn_done(app, 2), pilot)
        original = app.workspace.session.session_id
        await send(pilot, app, "/retry")
        await wait_for(lambda: app.workspace.session.session_id != original, pilot)
        await wait_for(lambda: 2 in app.chat.model.turns and turn_done(app, 2)(), pilot)
        turn = app.chat.model.turns[2]
        assert turn.user == "add something" and turn.answer == "retried"
        check = await app.workspace.session.repl.run_cell("print(x)")
        assert check.output == "11\n"  # 1 + 10: the first try's +1 was undone
        await wait_for(lambda: all(w.is_finished for w in app.workers if w.group == "turn"), pilot)


async def test_undo_with_no_turn_says_why(home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "/undo")
        await wait_for(lambda: any("no turn to undo" in n for n in notices(app)), pilot)
