"""The Textual app driven by Pilot: what a user sees and does."""

from __future__ import annotations

import json

from rlm_tui.llm.scripted import Reply
from rlm_tui.ui.widgets.cells import CellWidget
from rlm_tui.ui.widgets.chat import AssistantMessage
from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for

SIZE = (140, 40)


def markdown_of(widget: AssistantMessage) -> str:
    return widget.body.source


async def test_a_full_turn_with_sub_calls_shows_cells_tree_and_answer(home):
    app = make_app(
        root=[
            Reply(
                repl(
                    "answers = llm_query_batched(['one', 'two', 'three'])\nprint(answers)",
                    "Asking three sub-models.",
                ),
                chunk_chars=7,
            ),
            "FINAL(The sub-models said **one**, **two** and **three**.)",
        ],
        sub=lambda request: request.messages[-1].content.upper(),
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "Ask three sub-models to shout a number.")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.pause()
        chat = app.chat
        assert markdown_of(chat.chat.assistants[1]) == "The sub-models said **one**, **two** and **three**."
        cells = list(chat.cells.query(CellWidget))
        assert len(cells) == 1 and cells[0].cell.output == "['ONE', 'TWO', 'THREE']\n"
        kinds = sorted(n.kind for n in chat.model.nodes.values())
        assert kinds == ["cell", "iteration", "iteration", "llm", "llm", "llm", "turn"]
        assert len(chat.tree.tree_nodes) == 7
        labels = [str(chat.tree.tree_nodes[n].label) for n in chat.tree.tree_nodes]
        assert sum("llm_query" in label for label in labels) == 3
        status = str(chat.query_one("#status").render())
        assert "turn 1:" in status and "session" in status


async def test_escape_cancels_the_running_turn_and_keeps_the_repl(home):
    app = make_app(root=[repl("kept = 'before'\nprint('working')\nimport time\ntime.sleep(60)")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "do something slow")
        await wait_for(lambda: any(c.chunks for c in app.chat.model.cells.values()), pilot)
        await pilot.press("escape")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.pause()
        turn = app.chat.model.turns[1]
        assert turn.status == "cancelled"
        assert "Cancelled" in markdown_of(app.chat.chat.assistants[1])
        assert app.chat.model.cells[turn.cells[0]].status == "interrupted"
        check = await app.workspace.session.repl.run_cell("print(kept)")
        assert check.output == "before\n"


async def test_load_attaches_a_file_as_context(home, tmp_path):
    data = tmp_path / "notes.txt"
    data.write_text("alpha\nbeta\ngamma\n")
    app = make_app(root=[repl("FINAL(str(len(context.splitlines())) + ' lines in ' + ', '.join(files))")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, f"/load {data}")
        await wait_for(lambda: "notes.txt" in app.workspace.session.attachments, pilot)
        await send(pilot, app, "how many lines?")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.pause()
        assert markdown_of(app.chat.chat.assistants[1]) == "3 lines in notes.txt"
        notices = [str(w.render()) for w in app.chat.chat.query(".notice")]
        assert any("attached notes.txt" in n for n in notices)


async def test_slash_commands_complete_with_tab(home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        prompt = app.chat.query_one("#prompt")
        prompt.focus()
        await pilot.press("/", "l", "o")
        completion = app.chat.query_one("#completion")
        assert completion.display and completion.get_option_at_index(0).id == "/load"
        await pilot.press("tab")
        assert prompt.text == "/load "
        await send(pilot, app, "/nonsense")
        await pilot.pause()
        assert any("unknown command /nonsense" in str(w.render()) for w in app.chat.chat.query(".notice"))


async def test_opening_and_resuming_a_session_from_the_browser(home):
    first = make_app(root=[repl("x = 41\nFINAL('stored x')")])
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(first.startup_done.is_set, pilot)
        await send(pilot, first, "store a number")
        await wait_for(turn_done(first, 1), pilot)
        session_id = first.workspace.session.session_id
        await first.action_quit()

    app = make_app(root=[repl("FINAL(f'x + 1 = {x + 1}, turns so far: {len(history) // 2}')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.press("ctrl+o")
        await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
        table = app.screen.query_one("DataTable")
        await wait_for(lambda: table.row_count == 1, pilot)
        await pilot.press("enter")  # open read-only
        await wait_for(lambda: app.chat.read_only_id == session_id, pilot)
        assert app.screen is app.chat
        assert markdown_of(app.chat.chat.assistants[1]) == "stored x"
        assert app.chat.query_one("#prompt").disabled
        await pilot.press("ctrl+r")  # resume it
        await wait_for(lambda: app.chat.read_only_id is None and app.workspace.session is not None, pilot)
        assert app.workspace.session.session_id == session_id
        await send(pilot, app, "and now?")
        await wait_for(turn_done(app, 2), pilot)
        await pilot.pause()
        assert markdown_of(app.chat.chat.assistants[2]) == "x + 1 = 42, turns so far: 1"


async def test_switching_theme_is_remembered_and_recolours_code(home):
    app = make_app(root=[repl("print('hi')\nFINAL('ok')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        assert app.theme == "rlm-dark"
        await send(pilot, app, "hi")
        await wait_for(turn_done(app, 1), pilot)
        await send(pilot, app, "/theme rlm-light")
        await wait_for(lambda: app.theme == "rlm-light", pilot)
        await pilot.pause()
        assert [w.syntax for w in app.chat.cells.query(CellWidget)] == ["friendly"]
        assert json.loads((home / "ui-state.json").read_text())["theme"] == "rlm-light"
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(again.startup_done.is_set, pilot)
        assert again.theme == "rlm-light"


async def test_a_theme_file_in_the_config_folder_is_picked_up(home):
    themes = home / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#ff8800"\nsyntax = "monokai"\n')
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not a colour"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        assert "mine" in app.available_themes
        notices = [str(w.render()) for w in app.chat.chat.query(".notice")]
        assert any("broken.toml" in n and "not a colour" in n for n in notices)


async def test_without_a_key_the_app_opens_and_says_what_to_set(home, monkeypatch):
    from rlm_tui.config import load
    from rlm_tui.ui.app import RLMApp

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    app = RLMApp(load(), animate=False)  # the real providers, no injected client
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        notices = [str(w.render()) for w in app.chat.chat.query(".notice")]
        assert any("set ANTHROPIC_API_KEY to use anthropic/claude-sonnet-5-5" in n for n in notices)
        await send(pilot, app, "hello?")
        await wait_for(
            lambda: sum("ANTHROPIC_API_KEY" in str(w.render()) for w in app.chat.chat.query(".notice")) >= 2,
            pilot,
        )
        assert app.is_running


async def test_help_lists_every_binding_and_command(home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.press("f1")
        await wait_for(lambda: app.screen.__class__.__name__ == "HelpScreen", pilot)
        text = app.screen.query_one("Markdown").source
        await wait_for(lambda: len(app.screen.query("MarkdownTableContent")) == 2, pilot)
        rows = {  # the commands table as drawn: a "|" in a command's arguments is not a column
            str(row[0]): str(row[1]) for row in app.screen.query("MarkdownTableContent").last().rows
        }
        assert rows["/export [md|jsonl] [PATH]"] == "write this session to a file"
        for binding in app.chat.BINDINGS:
            assert (binding.tooltip or binding.description) in text
        for command in (
            "/load",
            "/vars",
            "/model",
            "/sub-model",
            "/new",
            "/sessions",
            "/fork",
            "/export",
            "/theme",
            "/help",
        ):
            assert f"`{command}`" in text


async def test_a_tree_node_opens_its_full_prompt_and_response(home):
    app = make_app(
        root=[repl("print(llm_query('what is the capital of France?'))"), "FINAL(Paris)"],
        sub=lambda r: "Paris.",
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "capital?")
        await wait_for(turn_done(app, 1), pilot)
        tree = app.chat.tree
        tree.focus()
        tree.move_cursor(tree.tree_nodes["t1.i1.c1.s1"])
        await pilot.press("enter")
        await wait_for(lambda: app.screen.__class__.__name__ == "NodeDetailScreen", pilot)
        prompt, response = (area.text for area in app.screen.query("TextArea"))
        assert prompt == "what is the capital of France?" and response == "Paris."
        await pilot.press("escape")
        tree.move_cursor(tree.tree_nodes["t1.i1"])  # a root iteration: its whole prompt, system first
        await pilot.press("enter")
        await wait_for(lambda: app.screen.__class__.__name__ == "NodeDetailScreen", pilot)
        prompt = next(iter(app.screen.query("TextArea"))).text
        assert (
            prompt.startswith("[system]\n") and "Recursive Language Model" in prompt and "capital?" in prompt
        )
        await pilot.press("escape")
        cell = app.chat.cells.query_one(CellWidget)
        cell.focus()
        await pilot.press("o")
        await wait_for(lambda: app.screen.__class__.__name__ == "OutputScreen", pilot)
        assert "Paris." in "\n".join(app.screen.query_one("Log").lines)


async def test_forking_from_the_browser_continues_in_the_fork(home):
    first = make_app(root=[repl("x = 1\nFINAL('one')"), repl("x = 2\nFINAL('two')")])
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(first.startup_done.is_set, pilot)
        await send(pilot, first, "set x to 1")
        await wait_for(turn_done(first, 1), pilot)
        await send(pilot, first, "set x to 2")
        await wait_for(turn_done(first, 2), pilot)
        original = first.workspace.session.session_id
        await first.action_quit()
    app = make_app(root=[repl("FINAL(f'x={x}, turns={len(history) // 2}')")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await pilot.press("ctrl+o")
        await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
        await wait_for(lambda: app.screen.query_one("DataTable").row_count == 1, pilot)
        await pilot.press("f")
        await wait_for(lambda: app.screen.__class__.__name__ == "AskScreen", pilot)
        app.screen.query_one("Input").value = "1"
        await pilot.press("enter")
        await wait_for(
            lambda: (
                app.workspace.session is not None
                and app.workspace.session.session_id != original
                and app.chat.read_only_id is None
                and len(app.chat.model.turns) == 1
            ),
            pilot,
        )
        fork = app.workspace.session.session_id
        await send(pilot, app, "what is x?")
        await wait_for(turn_done(app, 2), pilot)
        await pilot.pause()
        assert app.chat.chat.assistants[2].body.source == "x=1, turns=1"
        store = app.workspace.catalog.store
        assert store.get(fork).parent_session == original and store.get(original).turns == 2
        assert fork in str(app.chat.query_one("#title").render())


async def test_keys_pressed_together_in_the_browser_never_quit_the_app(home):
    first = make_app(root=[repl("FINAL('one')")])
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(first.startup_done.is_set, pilot)
        await send(pilot, first, "hi")
        await wait_for(turn_done(first, 1), pilot)
        await first.action_quit()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        for keys in (("e", "r"), ("f", "r"), ("n", "d", "r")):
            await pilot.press("ctrl+o")
            await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
            await wait_for(lambda: app.screen.query_one("DataTable").row_count == 1, pilot)
            await pilot.press(*keys)
            await pilot.pause(0.2)
            assert app.is_running
            while app.screen.__class__.__name__ != "ChatScreen":
                await pilot.press("escape")
            assert app.is_running


async def test_pane_keys_work_from_the_editor_and_refused_text_stays(home):
    app = make_app(root=[repl("import time\ntime.sleep(60)")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        chat = app.chat
        chat.query_one("#prompt").focus()
        side = chat.query_one("#side")
        before = side.styles.width
        await pilot.press("f7")
        assert side.styles.width != before
        await pilot.press("f5")
        assert chat.maximized is chat.query_one("#left")  # the chat fills the screen, the editor with it
        await pilot.press("h", "i")
        assert chat.query_one("#prompt").text == "hi"
        chat.query_one("#prompt").text = ""
        await pilot.press("f5")
        assert chat.maximized is None
        await send(pilot, app, "a slow one")
        await wait_for(lambda: app.workspace.busy, pilot)
        prompt = chat.query_one("#prompt")
        prompt.text = "a follow-up I typed meanwhile"
        await pilot.press("enter")  # queued while the turn runs
        assert chat.queued == ["a follow-up I typed meanwhile"] and prompt.text == ""
        await pilot.press("escape")
        await wait_for(turn_done(app, 1), pilot)
        # the turn was cancelled: the queued message comes back to the editor, not sent
        await wait_for(lambda: prompt.text == "a follow-up I typed meanwhile", pilot)
        assert chat.queued == [] and len(chat.model.turns) == 1


async def test_compaction_and_estimated_usage_are_shown(home):
    from rlm_tui.config import load
    from rlm_tui.llm.base import Usage
    from rlm_tui.llm.scripted import Reply, ScriptedClient, by_purpose
    from rlm_tui.ui.app import RLMApp
    from tests.engine.conftest import repl
    from tests.ui.conftest import send, turn_done, wait_for

    chatty = [Reply(repl(f"step{i} = {i}\nprint('{i}' * 1800)"), usage=Usage(900, 50, estimated=True))
              for i in range(1, 9)]  # fmt: skip
    client = ScriptedClient(
        by_purpose([*chatty, "FINAL_VAR(step8)"]), context_windows={"scripted/root": 3000}
    )
    config = load({"model": "scripted/root", "sub_model": "scripted/sub"})
    app = RLMApp(config, client=client, animate=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "eight steps")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.pause()
        kinds = [n.kind for n in app.chat.model.nodes.values()]
        assert "compaction" in kinds
        notes = [str(w.render()) for w in app.chat.cells.query(".cells-note")]
        assert notes and "compacted" in notes[0]
        status = str(app.chat.query_one("#status").render())
        assert "turn 1: ~" in status and "session ~" in status


async def test_the_model_command_says_the_window_and_where_it_came_from(home):
    from rlm_tui.config import load
    from rlm_tui.llm.scripted import ScriptedClient, by_purpose
    from rlm_tui.ui.app import RLMApp
    from tests.ui.conftest import send, wait_for

    client = ScriptedClient(by_purpose([]), context_windows={"scripted/root": 2048})
    app = RLMApp(load({"model": "scripted/root"}), client=client, animate=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "/model")
        texts = lambda: [str(w.render()) for w in app.chat.chat.query(".notice")]  # noqa: E731
        await wait_for(lambda: any("context window 2,048 tokens" in t for t in texts()), pilot)
        await wait_for(lambda: app.screen is not app.chat, pilot)  # and the model picker opened
        await pilot.press("escape")
        await wait_for(lambda: app.screen is app.chat, pilot)
        await send(pilot, app, "/sub-model scripted/other")
        await wait_for(
            lambda: any("sub-model is now scripted/other" in t and "unknown" in t for t in texts()), pilot
        )


async def test_a_session_in_use_elsewhere_is_refused_in_one_line_and_the_app_goes_on(home, monkeypatch):
    from rlm_tui.services.runtime import locks_root
    from rlm_tui.services.session_lock import SessionLock

    first = make_app(root=[repl("x = 41\nFINAL('stored x')")])
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(first.startup_done.is_set, pilot)
        await send(pilot, first, "store a number")
        await wait_for(turn_done(first, 1), pilot)
        session_id = first.workspace.session.session_id
        await first.action_quit()

    monkeypatch.setenv("RLM_SESSION_WAIT", "0.2")
    other = SessionLock(locks_root(), session_id)  # another rlm process has the session open
    await other.acquire(0)
    try:
        app = make_app(root=[repl("FINAL('fresh')")])
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(app.startup_done.is_set, pilot)
            await pilot.press("ctrl+o")
            await wait_for(lambda: app.screen.__class__.__name__ == "SessionsScreen", pilot)
            table = app.screen.query_one("DataTable")
            await wait_for(lambda: table.row_count == 1, pilot)
            await pilot.press("r")  # resume it: refused, the session is in use

            def refused() -> bool:
                texts = [str(n.render()) for n in app.query(".notice")]
                return any(f"session {session_id} is in use" in t for t in texts)

            await wait_for(refused, pilot)
            assert app.workspace.session is None or app.workspace.session.session_id != session_id
            await pilot.press("escape")
            await wait_for(lambda: app.screen is app.chat, pilot)
            # the busy session stays on screen read-only; a new one is a key away
            assert app.chat.read_only_id == session_id
            await pilot.press("ctrl+n")
            await wait_for(lambda: app.chat.read_only_id is None, pilot)
            await send(pilot, app, "still works?")  # a new session, not the busy one
            await wait_for(lambda: app.workspace.session is not None and turn_done(app, 1)(), pilot)
            assert app.workspace.session.session_id != session_id
            assert app.chat.model.turns[1].answer == "fresh"
    finally:
        other.release()
