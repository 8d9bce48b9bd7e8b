"""Attachments you can see: a chip per attached file, one while a file loads, and /files."""

from __future__ import annotations

import asyncio
import json

from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for

SIZE = (120, 36)


def chips(app) -> list[str]:
    return list(app.chat.query_one("#chips").shown)


async def test_chips_show_each_attached_file_and_files_lists_them(home, tmp_path):
    (tmp_path / "notes.txt").write_text("alpha\n" * 300)  # 1,800 bytes
    (tmp_path / "b.csv").write_text("a,b\n1,2\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        assert not app.chat.query_one("#chips").display  # nothing attached: no empty row
        await send(pilot, app, "/files")
        await wait_for(
            lambda: any("no file is attached" in str(n.render()) for n in app.chat.query(".notice")), pilot
        )
        await send(pilot, app, f"/load {tmp_path / 'notes.txt'}")
        await send(pilot, app, f"/load {tmp_path / 'b.csv'} as table")
        await wait_for(lambda: len(chips(app)) == 2, pilot)
        assert chips(app) == ["📎 notes.txt · 1.8 KB", "📎 table · 8 B"]
        drawn = str(app.chat.query_one("#chips").render())
        assert "notes.txt · 1.8 KB" in drawn and "table · 8 B" in drawn
        await send(pilot, app, "/files")
        await wait_for(
            lambda: any("2 attached file(s)" in str(n.render()) for n in app.chat.query(".notice")), pilot
        )
        listing = next(str(n.render()) for n in app.chat.query(".notice") if "2 attached" in str(n.render()))
        assert "notes.txt · str, 1,800 chars" in listing and str(tmp_path / "b.csv") in listing
        assert "table · Table, 8 bytes" in listing  # what each size counts, by what it was loaded as


async def test_a_file_still_loading_has_a_chip_that_says_so(home, tmp_path):
    data = tmp_path / "big.txt"
    data.write_text("x" * 5000)
    app = make_app(root=[repl("FINAL(', '.join(files))")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        release = asyncio.Event()
        real_attach = app.workspace.attach

        async def slow_attach(path, name=None):  # a large file: the worker takes its time
            await release.wait()
            return await real_attach(path, name)

        app.workspace.attach = slow_attach
        app.workspace.attach_progress = lambda: (1_250, 5_000)  # the host's gauge: a quarter read
        await send(pilot, app, f"/load {data}")
        await wait_for(
            lambda: any(c.startswith("⏳ loading big.txt · 4.9 KB · 25% · ") for c in chips(app)), pilot
        )
        prompt = app.chat.query_one("#prompt")
        await pilot.press("h", "i")  # the editor keeps working while it loads
        assert prompt.text == "hi"
        await send(pilot, app, "a question sent while it loads")
        assert not app.chat.model.turns  # the message waits for the file: it must see it
        release.set()
        await wait_for(lambda: chips(app) == ["📎 big.txt · 4.9 KB"], pilot)
        await wait_for(turn_done(app, 1), pilot)
        assert app.chat.model.turns[1].answer == "big.txt"  # the turn saw the file


async def test_files_detach_drops_a_file_from_the_repl_and_its_chip(home, tmp_path):
    (tmp_path / "a.txt").write_text("first file\n")
    (tmp_path / "b.txt").write_text("second file\n")
    app = make_app(root=[repl("FINAL(sorted(files) + [context])")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, f"/load {tmp_path / 'a.txt'}")
        await send(pilot, app, f"/load {tmp_path / 'b.txt'}")
        await wait_for(lambda: len(chips(app)) == 2, pilot)
        await send(pilot, app, "/files detach b.txt")  # the one that was `context`
        await wait_for(lambda: len(chips(app)) == 1, pilot)
        assert chips(app)[0].startswith("📎 a.txt")
        notices = [str(n.render()) for n in app.chat.query(".notice")]
        assert any("detached b.txt" in n and "`context` is a.txt now" in n for n in notices)
        await send(pilot, app, "what is attached?")
        await wait_for(turn_done(app, 1), pilot)
        assert app.workspace.session.attachments.keys() == {"a.txt"}
        assert json.loads(app.chat.model.turns[1].answer) == ["a.txt", "first file\n"]
        await send(pilot, app, "/files detach nope")
        await wait_for(
            lambda: any(
                "no attached file named 'nope'" in str(n.render()) for n in app.chat.query(".notice, .error")
            ),
            pilot,
        )
