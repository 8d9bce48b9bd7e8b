"""Issue 13's bugs, each as the user met it: what they typed or pressed, and what the screen shows."""

from __future__ import annotations

import pytest

from rlm_tui.events import AnswerReady, TurnFinished, TurnStarted
from rlm_tui.services import formatting
from rlm_tui.store.recorder import Recorder
from rlm_tui.store.sessions import Store
from tests.engine.conftest import repl
from tests.ui import scenario
from tests.ui.conftest import make_app, send, turn_done, wait_for
from tests.ui.screen_text import region_lines, screen_text

SIZE = (140, 40)
MARKUP_TITLE = "Budget [red]Q3[/red] notes [draft]"


def record(home, events, title: str | None = None, session_id: str = scenario.SID) -> None:
    """A session in the app's database, as if it had been run."""
    home.mkdir(parents=True, exist_ok=True)
    store = Store(home / "sessions.db")
    recorder = Recorder(store.db)
    for event in events:
        data = event.to_dict()
        data["session_id"] = session_id
        from rlm_tui.events import event_from_dict

        recorder(event_from_dict(data))
    if title is not None:
        store.rename(session_id, title)
    store.close()


def a_turn(number: int, user: str, answer: str = "ok", status: str = "ok") -> list:
    """A recorded turn with an answer: enough for the browser and the chat to show it."""
    base = {"session_id": scenario.SID, "turn": number}
    t = scenario.T0 + number * 10
    return [
        TurnStarted(
            **base,
            node_id=f"t{number}",
            parent_id=None,
            t=t,
            user_message=user,
            root_model=scenario.ROOT,
            sub_model=scenario.SUB,
        ),
        AnswerReady(**base, node_id=f"t{number}", parent_id=None, t=t + 0.5, answer=answer),
        TurnFinished(
            **base,
            node_id=f"t{number}",
            parent_id=None,
            t=t + 1,
            status=status,
            duration=1.0,
            usage={"input_tokens": 100, "output_tokens": 20},
        ),
    ]


# -- 2. Tab with nothing to complete -------------------------------------------------------------


async def test_tab_with_nothing_to_complete_keeps_focus_and_what_is_typed_next(home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        prompt = app.chat.query_one("#prompt")
        prompt.focus()
        await pilot.press(*"hello", "tab", *" world")
        assert app.focused is prompt
        assert prompt.text == "hello world"
        await pilot.press("tab", "f")  # "f" would be a browser/pane key if focus had left
        assert prompt.text == "hello worldf" and app.screen is app.chat


# -- 4. titles and user text are never Rich markup ---------------------------------------------------


@pytest.mark.parametrize("title", [MARKUP_TITLE, "[[scenario:error]]"])
async def test_session_titles_show_literally_in_browser_and_chat(home, title):
    record(home, a_turn(1, "Plan the [bold]budget[/bold] for [Q3]"), title=title)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.press("ctrl+o")
        await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
        table = app.screen.query_one("DataTable")
        await wait_for(lambda: table.row_count == 1, pilot)
        await pilot.pause()
        assert title in screen_text(app)
        await pilot.press("enter")  # open it read-only: the title bar and the chat
        await wait_for(lambda: app.chat.read_only_id == scenario.SID, pilot)
        await pilot.pause()
        text = screen_text(app)
        assert title in text
        assert "Plan the [bold]budget[/bold] for [Q3]" in text


# -- 5. multi-line messages ------------------------------------------------------------------------


async def test_a_multi_line_message_keeps_its_lines(home):
    app = make_app(root=["FINAL(noted)"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "first line\nsecond line\n\n- third")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.pause()
        lines = [line.strip(" │") for line in screen_text(app).splitlines()]
        at = next(i for i, line in enumerate(lines) if line.startswith("first line"))
        assert lines[at : at + 4] == ["first line", "second line", "", "- third"]


# -- 6. new output while scrolled up ---------------------------------------------------------------


async def test_new_output_below_is_marked_while_reading_further_up(home):
    record(home, [e for n in range(1, 9) for e in a_turn(n, f"question {n}\n" + "line\n" * 6)])
    app = make_app(root=["FINAL(a fresh answer)"], session_id=scenario.SID)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: app.startup_done.is_set() and app.workspace.session is not None, pilot)
        chat = app.chat.chat
        await pilot.pause()
        assert not chat.marker.display
        chat.scroll_home(animate=False)
        await pilot.pause()
        await send(pilot, app, "one more")
        await wait_for(turn_done(app, 9), pilot)
        await pilot.pause()
        assert chat.scroll_y == 0  # the view stayed where the user reads
        assert chat.marker.display and "new output below" in screen_text(app)
        chat.focus()
        await pilot.press("end")
        await wait_for(lambda: not chat.marker.display and chat.scroll_y >= chat.max_scroll_y, pilot)
        await pilot.pause()
        assert "a fresh answer" in screen_text(app)


# -- 9. replay says what the live view said -----------------------------------------------------------


async def test_replay_shows_the_cancel_message_the_live_view_showed(home):
    app = make_app(root=[repl("print('working')\nimport time\ntime.sleep(60)")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "do something slow")
        await wait_for(lambda: any(c.chunks for c in app.chat.model.cells.values()), pilot)
        await pilot.press("escape")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.pause()
        live = app.chat.chat.assistants[1].body.source
        session_id = app.workspace.session.session_id
        await app.action_quit()
    assert "Cancelled" in live

    replay = make_app()
    async with replay.run_test(size=SIZE) as pilot:
        await wait_for(replay.startup_done.is_set, pilot)
        await replay.view_session(session_id)
        await pilot.pause()
        assert replay.chat.chat.assistants[1].body.source == live
        assert "Cancelled" in screen_text(replay)


# -- 12. the slips -----------------------------------------------------------------------------------


def test_counts_and_sizes_read_naturally():
    assert formatting.plural(1, "turn") == "1 turn" and formatting.plural(3, "turn") == "3 turns"
    assert formatting.tokens(1_195_300) == "1.2M tok"
    assert formatting.tokens(999_949) == "999.9k tok" and formatting.tokens(999_950) == "1.0M tok"
    assert formatting.tokens(950) == "950 tok" and formatting.tokens(12_400, True) == "~12.4k tok"


async def test_delete_dialog_says_1_turn(home):
    record(home, a_turn(1, "only one"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.press("ctrl+o")
        await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
        await wait_for(lambda: app.screen.query_one("DataTable").row_count == 1, pilot)
        await pilot.press("d")
        await wait_for(lambda: app.screen.__class__.__name__ == "ConfirmScreen", pilot)
        await pilot.pause()
        text = screen_text(app)
        assert "(1 turn)" in text and "turns)" not in text


async def test_completion_shows_command_arguments_as_written(home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        app.chat.query_one("#prompt").focus()
        await pilot.press("/", "l")
        await pilot.pause()
        assert "/load  PATH [as NAME]  attach" in screen_text(app)


def palette_titles(app) -> list[str]:
    return [c.title for c in app.get_system_commands(app.screen)]


async def test_palette_and_footer_offer_only_what_applies(home):
    record(home, a_turn(1, "recorded"))
    app = make_app(root=[repl("import time\ntime.sleep(60)")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        titles = palette_titles(app)
        assert "Cancel turn" not in titles and "Resume" not in titles
        assert titles.count("Maximize pane") == 1 and "Maximize" not in titles
        assert "esc" not in screen_text(app).splitlines()[-1]

        await send(pilot, app, "slow")
        await wait_for(lambda: app.workspace.busy and app.chat.model.cells, pilot)
        await pilot.pause()
        assert "Cancel turn" in palette_titles(app)
        assert "esc Cancel turn" in screen_text(app).splitlines()[-1]
        await pilot.press("escape")
        await wait_for(turn_done(app, 1), pilot)

        await app.view_session(scenario.SID)  # a read-only view: Resume, and no Esc in the footer
        await pilot.pause()
        assert "Resume" in palette_titles(app) and "Cancel turn" not in palette_titles(app)
        assert "Cancel turn" not in screen_text(app).splitlines()[-1]


async def test_browser_marks_forks_with_a_common_glyph(home):
    record(home, a_turn(1, "parent"))
    record(home, a_turn(1, "child"), title="the fork", session_id="20261122-101600-fork01")
    store = Store(home / "sessions.db")  # marked as a fork of the first (forking needs a REPL snapshot)
    store.db.execute(
        "UPDATE sessions SET parent_session = ?, parent_turn = 1 WHERE id = ?",
        (scenario.SID, "20261122-101600-fork01"),
    )
    store.db.commit()
    store.close()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.press("ctrl+o")
        await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
        await wait_for(lambda: app.screen.query_one("DataTable").row_count == 2, pilot)
        await pilot.pause()
        text = screen_text(app)
        assert "↳ the fork" in text and "⑂" not in text


async def test_a_log_without_usage_shows_no_zero_tokens_nor_unknown_cost(home):
    events = [
        TurnStarted(
            session_id="log", turn=1, node_id="t1", parent_id=None, t=1.0, user_message="q",
            root_model="gpt-5", sub_model="",
        ),
        AnswerReady(session_id="log", turn=1, node_id="t1", parent_id=None, t=1.5, answer="a"),
        TurnFinished(
            session_id="log", turn=1, node_id="t1", parent_id=None, t=2.0, status="ok",
            duration=1.0, usage={},
        ),
    ]  # fmt: skip
    app = make_app(view=("run.jsonl", events))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.pause()
        status = str(app.chat.query_one("#status").render())
        assert "0 tok" not in status and "$?" not in status and "sub  " not in status
        assert "gpt-5" in status and "turn 1: 1.0s" in status
        tree = screen_text(app)
        assert "$?" not in tree and "0 tok" not in tree


def test_a_running_turn_shows_no_cost_until_one_is_known():
    """Before: "$0.0000" while nothing had finished, then "$?" once the unpriced call did."""
    from rlm_tui.events import ModelFinished, ModelStarted
    from rlm_tui.ui.view_model import ViewModel
    from rlm_tui.ui.widgets.status import StatusBar

    model = ViewModel()
    bar = StatusBar(model)
    bar.root_model, bar.sub_model, bar.animate = scenario.ROOT, scenario.SUB, False
    started = a_turn(1, "q")[0]
    model.apply_all([started])
    shown = [bar.render_text(140)]
    base = {"session_id": scenario.SID, "turn": 1}
    usage = {"input_tokens": 1000, "output_tokens": 195_300}
    model.apply_all(
        [ModelStarted(**base, node_id="t1.i1", parent_id="t1", t=0.5, model="x/unpriced", depth=0,
                      iteration=1, messages=[], prompt_chars=10),
         ModelFinished(**base, node_id="t1.i1", parent_id="t1", t=1.0, model="x/unpriced", text="",
                       usage=usage, cost_usd=None, duration=1.0)]
    )  # fmt: skip
    shown.append(bar.render_text(140))
    model.apply_all(
        [TurnFinished(**base, node_id="t1", parent_id=None, t=2.0, status="ok", duration=2.0,
                      usage={**usage, "cost_usd": None, "cost_complete": False})]
    )  # fmt: skip
    shown.append(bar.render_text(140))
    turn_parts = [text.split("turn 1:")[1].split("│")[0].strip() for text in shown]
    assert turn_parts == ["running", "196.3k tok $? running", "196.3k tok $? 2.0s"]
    assert "$0.0000" not in " ".join(shown)


# -- 3. /vars can be read ------------------------------------------------------------------------------

VARS_CODE = (
    "quarterly_revenue_by_region = {f'region_{i}': i * 1000 for i in range(50)}\n"
    "customer_names = ['Ada Lovelace', 'Grace Hopper'] * 25\n"
    "notes = 'a long note ' * 400\n"
    "FINAL('made three variables')"
)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_vars_shows_names_types_and_sizes_whole(home, size):
    app = make_app(root=[repl(VARS_CODE)])
    async with app.run_test(size=size) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "make some variables")
        await wait_for(turn_done(app, 1), pilot)
        await send(pilot, app, "/vars")
        await wait_for(lambda: app.chat.chat.query(".vars"), pilot)
        await pilot.pause()
        text = "\n".join(region_lines(app, app.chat.chat))
        for name, type_, size_text in [
            ("quarterly_revenue_by_region", "dict", "50 keys"),
            ("customer_names", "list", "50 items"),
            ("notes", "str", "4,800 chars"),
        ]:
            row = next((line for line in text.splitlines() if f" {name} " in line), None)
            assert row is not None, f"{name} is not shown whole:\n{text}"
            assert f" {type_} " in row and size_text in row


# -- 7. the call tree follows the running node --------------------------------------------------------


def fan_out(start: int, stop: int, finished: bool = True) -> list:
    """Sub-calls start..stop-1 of turn 2's cell (scenario.second_turn_running draws s1..s3)."""
    from rlm_tui.events import SubCallFinished, SubCallStarted

    base = {"session_id": scenario.SID, "turn": 2}
    out: list = []
    for n in range(start, stop):
        node = {"node_id": f"t2.i1.c1.s{n}", "parent_id": "t2.i1.c1", "kind": "llm", "model": scenario.SUB}
        out.append(SubCallStarted(**base, **node, t=scenario.T0 + 63, prompt=f"item {n}", depth=1))
        if finished:
            out.append(SubCallFinished(**base, **node, t=scenario.T0 + 64, response="ok", usage={},
                                       cost_usd=0.0, duration=1.0))  # fmt: skip
    return out


def in_view(tree, node_id: str) -> bool:
    line = tree.tree_nodes[node_id].line
    return tree.scroll_y <= line < tree.scroll_y + tree.scrollable_content_region.height


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_call_tree_follows_the_running_node_until_the_user_moves(home, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        chat = app.chat
        await chat.reset()
        if not chat.tree.display or not chat.query_one("#side").display:
            await pilot.press("f3")  # a narrow terminal folds the side panes away
        tree = chat.tree
        events = (
            scenario.first_turn() + scenario.second_turn_running() + fan_out(4, 60) + fan_out(60, 62, False)
        )
        await chat.render_changes(chat.model.apply_all(events))
        await pilot.pause()
        assert tree.max_scroll_y > 0 and in_view(tree, "t2.i1.c1.s61")

        await pilot.press("f3", "f3")  # hidden and shown again: still there
        await pilot.pause()
        tree.focus()
        await pilot.press("C", "E")  # collapse all, expand all: the running node comes back into view
        await pilot.pause()
        assert in_view(tree, "t2.i1.c1.s61")

        await pilot.press("home")  # the user moves: the tree stays where they are
        await pilot.pause()
        await chat.render_changes(chat.model.apply_all(fan_out(62, 90, False)))
        await pilot.pause()
        assert tree.scroll_y == 0 and not in_view(tree, "t2.i1.c1.s89")


# -- 8. Markdown export --------------------------------------------------------------------------------


def cancelled_fan_out() -> list:
    """Turn 2 of the scenario cancelled with 400 sub-calls out: s1 and s4..s33 done (31), the rest not."""
    from rlm_tui.events import CellFinished

    events = scenario.second_turn_running() + fan_out(4, 34) + fan_out(34, 401, False)
    base = {"session_id": scenario.SID, "turn": 2}
    t = scenario.T0 + 70
    return [
        *events,
        CellFinished(**base, node_id="t2.i1.c1", parent_id="t2.i1", t=t, status="interrupted",
                     duration=8.0, output_for_model="", output_chars=0, dropped_chars=0, truncated=False,
                     error=None),
        TurnFinished(**base, node_id="t2", parent_id=None, t=t, status="cancelled", duration=10.0,
                     usage={}),
    ]  # fmt: skip


async def test_export_fences_data_answers_and_says_what_became_of_a_cancelled_fan_out(home, tmp_path):
    answers = a_turn(3, "as a dict", answer="{'apple': 1, 'cherry': [2, 3]}")
    answers += a_turn(4, "as JSON", answer='{"apple": 1}')
    record(home, scenario.first_turn() + cancelled_fan_out() + answers, title="fruit")
    app = make_app(session_id=scenario.SID)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.startup_done.is_set() and app.workspace.session is not None, pilot)
        target = tmp_path / "out.md"
        await send(pilot, app, f"/export md {target}")
        await wait_for(target.exists, pilot)
    markdown = target.read_text()
    assert "**Answer**\n\n```python\n{'apple': 1, 'cherry': [2, 3]}\n```" in markdown
    assert '**Answer**\n\n```json\n{"apple": 1}\n```' in markdown
    assert "400 sub-calls: 31 finished, 369 cancelled." in markdown
    assert "sub-call(s)" not in markdown


# -- 1. no key lost, no focus stolen while a session with a large attachment opens -----------------------


@pytest.fixture
def big_session(home, tmp_path):
    """Makes a recorded session with a 32 MB text file attached (resuming it reloads the file)."""
    big = tmp_path / "big.txt"
    with big.open("w") as fh:
        line = "the quick brown fox jumps over the lazy dog " * 3 + "\n"
        fh.write(line * (32 * 1024 * 1024 // len(line)))

    async def run() -> str:
        app = make_app(root=["FINAL(read it)"])
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(app.startup_done.is_set, pilot)
            await send(pilot, app, f"/load {big}")
            await wait_for(lambda: "big.txt" in app.workspace.session.attachments, pilot)
            await send(pilot, app, "read it")
            await wait_for(turn_done(app, 1), pilot)
            session_id = app.workspace.session.session_id
            await app.action_quit()
        return session_id

    return run


@pytest.fixture
def slow_history(monkeypatch):
    """Holds the drawing of a recorded session (while the chat shows it is loading) until the
    test has typed: a big session takes seconds there, a test machine a few milliseconds."""
    import asyncio

    from rlm_tui.ui.widgets.chat import ChatView

    gate = asyncio.Event()
    original = ChatView.show_history

    async def show_history(self, turns):
        await gate.wait()
        await original(self, turns)

    monkeypatch.setattr(ChatView, "show_history", show_history)
    return gate


async def test_keys_typed_while_a_big_session_opens_all_arrive_in_order(big_session, slow_history):
    session_id = await big_session()
    app = make_app(root=["FINAL(ok)"], session_id=session_id)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat.query_one("#prompt")
        await wait_for(lambda: app.chat.chat.loading, pilot)
        await pilot.press(*"abcde")
        slow_history.set()
        await pilot.press(*"fghij")  # and while the REPL reloads the 32 MB file
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.pause()
        assert prompt.text == "abcdefghij"
        assert app.focused is prompt
        assert app.workspace.session.session_id == session_id
        assert "big.txt" in app.workspace.session.attachments


async def test_focus_moved_while_a_big_session_opens_stays_where_the_user_put_it(big_session, slow_history):
    session_id = await big_session()
    app = make_app(root=["FINAL(ok)"], session_id=session_id)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat.query_one("#prompt")
        await wait_for(lambda: app.chat.chat.loading, pilot)
        await pilot.press("x")
        app.chat.tree.focus()  # the user goes to the call tree and uses its keys
        await pilot.press("C", "E")
        slow_history.set()
        await pilot.press("E")
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.pause()
        assert app.focused is app.chat.tree
        assert prompt.text == "x"


async def test_a_command_typed_while_the_session_opens_runs_on_it(big_session):
    session_id = await big_session()
    app = make_app(root=["FINAL(ok)"], session_id=session_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"/vars", "enter")
        await wait_for(lambda: app.startup_done.is_set() and app.chat.chat.query(".vars"), pilot)
        await pilot.pause()
        assert " big.txt " in screen_text(app) or " files " in screen_text(app)


# -- 11. first launch: nothing heavy is imported on the event loop -----------------------------------------

IMPORT_WATCH = r"""
import asyncio, json, sys, threading

class Watch:
    seen = []
    def find_spec(self, name, path=None, target=None):
        Watch.seen.append((name, threading.current_thread() is threading.main_thread()))
        return None

from rlm_tui.config import load
from rlm_tui.llm.scripted import ScriptedClient, by_purpose
from rlm_tui.ui.app import RLMApp

async def main():
    app = RLMApp(load(), client=ScriptedClient(by_purpose(["FINAL(hi)"], None)), animate=False)
    sys.meta_path.insert(0, Watch())
    async with app.run_test(size=(100, 30)) as pilot:
        while not app.startup_done.is_set():
            await pilot.pause(0.02)
        prompt = app.chat.query_one("#prompt")
        prompt.text = "hello"
        await pilot.press("enter")
        while not (app.chat.model.turns and app.chat.model.turns[1].status != "running"):
            await pilot.pause(0.02)
        await app.action_quit()
    print(json.dumps(Watch.seen))

asyncio.run(main())
"""
HEAVY = ("rlm_tui.engine", "rlm_tui.sandbox", "rlm_tui.store", "rlm_tui.services.opening",
         "rlm_tui.services.runtime", "rlm_tui.services.catalog", "sqlite3", "litellm", "anthropic")  # fmt: skip


def test_the_session_machinery_is_imported_off_the_event_loop(home):
    """A first launch compiles every module: imported on the loop, they froze the editor for
    seconds. In a fresh interpreter, none of the heavy ones may be imported on the main thread."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", IMPORT_WATCH], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert any(name.startswith("rlm_tui.engine") for name, _ in seen)  # the watch saw them load
    on_loop = sorted({name for name, main in seen if main and name.startswith(HEAVY)})
    assert on_loop == []


# -- 10. a long live chat stays light: older turns fold behind "show earlier" ----------------------------


async def test_a_long_live_chat_folds_old_turns_and_shows_them_on_request(home):
    from rlm_tui.ui.widgets.chat import FOLD_STEP, LIVE_TURNS, PAGE, UserMessage

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        chat = app.chat
        await chat.reset()
        turns = LIVE_TURNS + 2 * (FOLD_STEP + 1)  # folds twice, FOLD_STEP + 1 turns each time
        events = [e for n in range(1, turns + 1) for e in a_turn(n, f"question {n}")]
        await chat.render_changes(chat.model.apply_all(events))  # drawn as a live session does
        await pilot.pause()
        shown = [w.turn.number for w in chat.chat.query_children(UserMessage)]
        hidden = 2 * (FOLD_STEP + 1)
        assert shown == list(range(hidden + 1, turns + 1))  # the newest, in order
        button = chat.chat.query_one("#earlier")
        assert str(button.label) == f"Show {min(PAGE, hidden)} earlier turns"
        button.press()  # (scrolled out of view above: as Enter on it would)
        await pilot.pause()
        shown = [w.turn.number for w in chat.chat.query_children(UserMessage)]
        assert shown == list(range(max(1, hidden - PAGE + 1), turns + 1))
        assert len(chat.chat.query("#earlier")) == (hidden > PAGE)
