"""A long live chat stays quick to lay out: a finished answer is one widget (Textual's Markdown
mounts one per block, and F4 or a resize lays every mounted widget out again), drawn the same
after the side panes come and go, and re-highlighted when the theme changes."""

from __future__ import annotations

from rlm_tui.events import AnswerReady, TurnFinished, TurnStarted
from rlm_tui.ui.widgets.chat import AssistantMessage
from rlm_tui.ui.widgets.settled import SettledMarkdown
from tests.ui.conftest import make_app, wait_for
from tests.ui.screen_text import screen_text

ANSWER = (
    "Part {n}:\n\n- the first point\n- a second point\n\n```python\ntotal = sum(range({n}))\n```\n\nDone {n}."
)


def turn_events(first: int, last: int) -> list:
    events = []
    for n in range(first, last + 1):
        base = {"session_id": "s", "turn": n, "node_id": f"t{n}", "parent_id": None}
        events += [
            TurnStarted(**base, t=n, user_message=f"question {n}", root_model="a/r", sub_model="a/s"),
            AnswerReady(**base, t=n + 0.5, answer=ANSWER.format(n=n)),
            TurnFinished(**base, t=n + 1, status="ok", duration=1.0, usage={}),
        ]
    return events


async def test_a_finished_answer_is_one_widget_and_reads_the_same_after_f4(home):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        chat = app.chat
        for first in range(1, 41, 10):  # drawn live, ten turns a batch
            await chat.render_changes(chat.model.apply_all(turn_events(first, first + 9)))
        await pilot.pause()
        answers = list(chat.chat.query(AssistantMessage))
        assert answers and all(isinstance(a.body, SettledMarkdown) for a in answers)
        assert all(len(list(a.walk_children())) == 2 for a in answers)  # its label and its body
        assert len(list(chat.chat.walk_children())) < 100  # 40 turns; a dozen widgets each before
        shown = screen_text(app)
        assert "• a second point" in shown and "total = sum(range(40))" in shown and "Done 40." in shown

        for _ in range(2):  # hidden and shown again: the chat is as wide, then as it was
            await pilot.press("f4")
            await pilot.pause()
            assert "Done 40." in screen_text(app) and "total = sum(range(40))" in screen_text(app)
        assert chat.query_one("#side").display

        before = chat.chat.assistants[40].body._markdown.code_theme
        assert app.theme == "rlm-dark"
        app.theme = "rlm-light"
        await pilot.pause()
        assert chat.chat.assistants[40].body._markdown.code_theme == app.syntax_style() != before


async def test_a_settled_answer_streams_again_when_its_turn_drafts(home):
    """A finished message whose turn drafts once more (a resumed stream) goes back to the
    streaming Markdown and settles again at the end, with the new text."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        chat = app.chat
        await chat.render_changes(chat.model.apply_all(turn_events(1, 1)))
        message = chat.chat.assistants[1]
        assert isinstance(message.body, SettledMarkdown)
        await message.restart_draft()
        await message.append_draft("drafting again")
        assert not isinstance(message.body, SettledMarkdown) and message.body.source == "drafting again"
        await message.finish()
        assert isinstance(message.body, SettledMarkdown) and "Done 1." in message.body.source


async def test_a_mouse_selection_over_an_answer_copies_its_text(home):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        chat = app.chat
        await chat.render_changes(chat.model.apply_all(turn_events(1, 1)))
        await pilot.pause()
        body = chat.chat.assistants[1].body
        region = body.content_region
        # dragged from the answer's first cell to its last line
        await pilot.mouse_down(body, offset=(0, 0))
        await pilot.hover(body, offset=(region.width - 1, region.height - 1))
        await pilot.mouse_up(body, offset=(region.width - 1, region.height - 1))
        selected = app.screen.get_selected_text() or ""
        assert selected.startswith("Part 1:") and "• a second point" in selected
        assert "total = sum(range(1))" in selected and selected.rstrip().endswith("Done 1.")
        highlight = body.selection_style.bgcolor
        assert highlight is not None  # and the selected text is drawn selected
        assert any(seg.style is not None and seg.style.bgcolor == highlight for seg in body.render_line(0))
