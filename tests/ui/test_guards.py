"""What the app refuses or explains instead of doing the wrong thing: opening another session while
a turn runs, palette commands that cannot apply, a missing @file, a theme set in two places; and
what it counts while a turn runs."""

from __future__ import annotations

from pathlib import Path

from rlm_tui.errors import AttachmentError
from rlm_tui.ui.widgets.status import money
from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for

SIZE = (140, 40)
SLOW = repl("import time\ntime.sleep(60)")


def notices(app) -> list[str]:
    return [str(w.render()) for w in app.chat.chat.query(".notice")]


async def record_a_session(text: str, answer: str) -> str:
    first = make_app(root=[repl(f"FINAL({answer!r})")])
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(first.startup_done.is_set, pilot)
        await send(pilot, first, text)
        await wait_for(turn_done(first, 1), pilot)
        session_id = first.workspace.session.session_id
        await first.action_quit()
    return session_id


async def test_another_session_does_not_open_over_a_running_turn(home):
    recorded = await record_a_session("the recorded question", "the recorded answer")
    app = make_app(root=[SLOW])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "a slow live question")
        await wait_for(lambda: app.workspace.busy, pilot)
        await pilot.press("ctrl+o")
        await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
        table = app.screen.query_one("DataTable")
        await wait_for(lambda: table.row_count >= 1, pilot)
        table.move_cursor(row=table.get_row_index(recorded))
        for key in ("enter", "r", "f"):  # open, resume, fork: each refused while the turn runs
            await pilot.press(key)
            # f asks for the turn in a worker: wait until it has decided
            await wait_for(lambda: not any(w.is_running and w.group == "dialog" for w in app.workers), pilot)
            await pilot.pause()
            assert app.screen.__class__.__name__ == "SessionsScreen"
        assert sum("A turn is running" in n.message for n in app._notifications) == 3
        await app.view_session(recorded)  # the app's own entry point refuses too
        assert app.chat.read_only_id is None
        assert app.chat.model.turns[1].user == "a slow live question"
        await pilot.press("escape")  # back to the chat
        await pilot.press("escape")  # cancel the turn
        await wait_for(turn_done(app, 1), pilot)
        assert app.workspace.busy is False


async def test_palette_commands_that_cannot_apply_say_why(home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        commands = {c.title: c.callback for c in app.get_system_commands(app.chat)}
        commands["Fork here"]()
        commands["Export as Markdown"]()
        await wait_for(lambda: len([n for n in notices(app) if "no turn yet" in n]) == 2, pilot)
        assert app.is_running
        commands["Load a file"]()
        assert app.chat.query_one("#prompt").text == "/load "


async def test_export_and_fork_in_a_read_only_view_act_on_the_session_shown(home, tmp_path):
    recorded = await record_a_session("the recorded question", "the recorded answer")
    app = make_app(root=[repl("FINAL('a live answer')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "a live question")
        await wait_for(turn_done(app, 1), pilot)
        live = app.workspace.session.session_id
        await app.view_session(recorded)
        assert app.chat.read_only_id == recorded
        out = tmp_path / "shown.md"
        await app.chat.run_command(f"/export md {out}")
        text = out.read_text()
        assert "the recorded question" in text and "a live question" not in text
        await app.chat.run_command("/vars")
        assert any("read-only view has no REPL" in n for n in notices(app))
        await app.chat.run_command("/fork 1")
        await wait_for(lambda: app.workspace.session is not None and app.chat.read_only_id is None, pilot)
        fork = app.workspace.catalog.store.get(app.workspace.session.session_id)
        assert fork.parent_session == recorded and fork.parent_session != live


async def test_a_missing_at_file_stops_the_message_and_keeps_it(home, tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("some text")
    app = make_app(root=[repl("FINAL(', '.join(sorted(files)))")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        message = f"compare @{real} with @{tmp_path}/nope.txt"
        await send(pilot, app, message)
        await wait_for(lambda: any("no such file" in n for n in notices(app)), pilot)
        assert app.chat.query_one("#prompt").text == message
        assert app.chat.model.turns == {} and app.workspace.session.attachments == {}
        await send(pilot, app, f"thanks @alice, now read @{real}")  # "@alice" is just text
        await wait_for(turn_done(app, 1), pilot)
        assert app.chat.model.turns[1].answer == "real.txt"


async def test_the_status_bar_counts_a_running_turn(home):
    app = make_app(
        root=[repl("print(llm_query('a sub question'))\nimport time\ntime.sleep(60)")],
        sub=lambda r: "sub answer",
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "go")
        model = app.chat.model
        await wait_for(
            lambda: any(n.kind == "llm" and n.status != "running" for n in model.nodes.values()), pilot
        )
        await app.chat.pump.flush()
        app.chat.refresh_status()
        tokens, cost, known = model.live_usage(1)
        assert tokens > 0  # the root iteration and the sub-call, before the turn ends
        status = str(app.chat.query_one("#status").render())
        assert f"{money(cost, known)} running" in status
        assert "session " in status and money(cost, known) in status.split("session ")[1]
        await pilot.press("escape")
        await wait_for(turn_done(app, 1), pilot)


async def test_a_theme_picked_in_the_app_wins_until_the_config_names_another(home):
    config = Path(home) / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('theme = "rlm-light"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        assert app.theme == "rlm-light"
        await send(pilot, app, "/theme rlm-solarized")
        await wait_for(lambda: app.theme == "rlm-solarized", pilot)
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(again.startup_done.is_set, pilot)
        assert again.theme == "rlm-solarized"  # the pick outlives a restart with the same config
    assert theme_row() == ("rlm-solarized", "picked in the app")
    config.write_text('theme = "rlm-high-contrast"\n')
    edited = make_app()
    async with edited.run_test(size=SIZE) as pilot:
        await wait_for(edited.startup_done.is_set, pilot)
        assert edited.theme == "rlm-high-contrast"  # a config edited since wins
    assert theme_row() == ("rlm-high-contrast", "config.toml:1")


def theme_row() -> tuple[str, str]:
    """What `rlm config` says of the theme: its value and (the start of) where it came from."""
    from rlm_tui.config import describe, load

    _, value, source = next(row for row in describe(load()) if row[0] == "theme")
    return value, "picked in the app" if source.startswith("picked in the app") else Path(
        source.split(",")[0]
    ).name


async def test_a_session_left_before_its_first_turn_leaves_nothing(home):
    app = make_app(root=[repl("FINAL('ok')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        empty = app.workspace.session
        assert empty.workdir.is_dir()
        await pilot.press("ctrl+n")
        await wait_for(
            lambda: app.workspace.session is not None and app.workspace.session is not empty, pilot
        )
        assert not empty.workdir.exists()
        store = app.workspace.catalog.store
        assert (
            store.conn.execute("SELECT count(*) FROM sessions WHERE id = ?", (empty.session_id,)).fetchone()[
                0
            ]
            == 0
        )
        await send(pilot, app, "keep this one")
        await wait_for(turn_done(app, 1), pilot)
        kept = app.workspace.session
        await app.action_quit()
    assert kept.workdir.is_dir()


def test_a_failed_sub_call_does_not_make_the_running_cost_unknown():
    from rlm_tui.events import ModelFinished, ModelStarted, SubCallFinished, SubCallStarted, TurnStarted
    from rlm_tui.ui.view_model import ViewModel

    b = {"session_id": "s", "turn": 1}
    model = ViewModel()
    model.apply_all(
        [
            TurnStarted(
                **b, node_id="t1", parent_id=None, user_message="q", root_model="a/r", sub_model="a/s"
            ),
            ModelStarted(
                **b,
                node_id="t1.i1",
                parent_id="t1",
                model="a/r",
                depth=0,
                iteration=1,
                messages=[],
                prompt_chars=1,
            ),
            ModelFinished(
                **b,
                node_id="t1.i1",
                parent_id="t1",
                model="a/r",
                text="x",
                usage={"input_tokens": 100},
                cost_usd=0.5,
                duration=1.0,
            ),
            SubCallStarted(
                **b, node_id="t1.i1.c1.s1", parent_id="t1.i1.c1", kind="llm", model="a/s", prompt="p", depth=1
            ),
            SubCallFinished(
                **b,
                node_id="t1.i1.c1.s1",
                parent_id="t1.i1.c1",
                kind="llm",
                model="a/s",
                response=None,
                usage={},
                cost_usd=None,
                duration=1.0,
                error="HTTP 500",
            ),
            SubCallStarted(
                **b, node_id="t1.i1.c1.s2", parent_id="t1.i1.c1", kind="llm", model="a/s", prompt="p", depth=1
            ),
            SubCallFinished(
                **b,
                node_id="t1.i1.c1.s2",
                parent_id="t1.i1.c1",
                kind="llm",
                model="a/s",
                response="r",
                usage={"input_tokens": 10},
                cost_usd=0.25,
                duration=1.0,
            ),
        ]
    )
    assert model.live_usage(1) == (110, 0.75, True)
    assert money(*model.live_usage(1)[1:]) == "$0.7500"


def test_which_at_words_are_files(tmp_path, monkeypatch):
    import pytest

    from rlm_tui.ui.screens.chat import attachments_in

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    text = "summarize @notes.txt. then @notes.txt, and thank @john.doe, @alice and @1.2!"
    assert attachments_in(text) == ["notes.txt"]  # punctuation after a path is not part of it
    for missing in ("read @nope.txt", "read @data/x.csv", "read @~/nope", "read @nope.log!"):
        with pytest.raises(AttachmentError, match="no such file"):
            attachments_in(missing)


async def test_a_message_sent_while_the_first_session_opens_is_recorded_once(home):
    import sqlite3

    app = make_app(root=["FINAL('hi')"])
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, app, "typed before the session was ready")  # no wait for start-up
        await wait_for(turn_done(app, 1), pilot)
        await wait_for(app.startup_done.is_set, pilot)
        await app.action_quit()
    with sqlite3.connect(home / "sessions.db") as db:
        kinds = dict(db.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall())
        sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    assert kinds["TurnStarted"] == kinds["TurnFinished"] == kinds["AnswerReady"] == 1
    assert sessions == 1  # one session opened, not a second one beside the first


async def test_a_message_sent_as_a_turn_ends_does_not_cut_off_its_answer(home):
    from rlm_tui.llm.scripted import Reply

    # Replies streamed in small pieces, as in the screenshots where this was first seen: the draft
    # is on screen until the turn's last batch of events replaces it with the answer.
    answers = [f"answer number {n}" for n in range(1, 7)]
    code = repl("counts = {f: f.lower().count('r') for f in ['Cherry', 'Pear']}\nprint(counts)")
    app = make_app(
        root=[Reply(x, chunk_chars=6, delay=0.05) for a in answers for x in (code, f"FINAL({a!r})")]
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        for n in range(1, 7):
            await send(pilot, app, f"question {n}")
            await wait_for(turn_done(app, n), pilot)  # the next goes at once, as a quick typist's would
        await wait_for(lambda: not any(w.is_running for w in app.workers if w.group == "turn"), pilot)
        for n, answer in enumerate(answers, 1):
            assistant = app.chat.chat.assistants[n]
            assert answer in assistant._shown and not assistant.drafting, n
            assert "iteration" not in str(assistant.query_one(".who").render()), n


async def test_the_app_stays_open_after_the_repl_fails_to_start_and_says_why(home, monkeypatch):
    monkeypatch.setenv("PATH", str(home / "no-bwrap-here"))  # bubblewrap is asked for but absent
    monkeypatch.setenv("RLM_SANDBOX", "bubblewrap")
    app = make_app(root=["FINAL('never')"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        assert any("no session could be opened" in n and "bubblewrap" in n for n in notices(app))
        await send(pilot, app, "hello?")
        await wait_for(lambda: sum("bubblewrap" in n for n in notices(app)) >= 2, pilot)
        assert app.is_running and app.workspace.session is None
        assert app.chat.query_one("#prompt").text == "hello?"  # nothing was sent: the message is kept


async def test_a_recorder_that_fails_is_said_in_the_chat(home, monkeypatch):
    from rlm_tui.store.recorder import Recorder

    def broken(self, event):
        raise OSError(28, "No space left on device")

    app = make_app(root=["FINAL('answered')"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        monkeypatch.setattr(Recorder, "__call__", broken)
        await send(pilot, app, "anything")
        await wait_for(turn_done(app, 1), pilot)
        await wait_for(lambda: any("could not record the session" in n for n in notices(app)), pilot)
        assert sum("could not record" in n for n in notices(app)) == 1  # said once, not per event
