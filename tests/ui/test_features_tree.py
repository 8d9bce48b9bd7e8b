"""The call tree at scale: prompt starts on sub-call rows, a fan-out's live progress, filters."""

from __future__ import annotations

from rlm_tui.llm.scripted import Reply
from tests.engine.conftest import repl
from tests.ui.conftest import make_app, send, turn_done, wait_for

SIZE = (160, 40)


def sub(request):
    text = request.messages[-1].content
    if "chapter 3" in text:
        return Reply(error="the provider refused", error_kind="bad_response")
    return "summary"


async def test_fan_out_rows_show_prompts_progress_and_filter_to_failures_or_depth(home):
    app = make_app(
        root=[
            repl(
                "answers = llm_query_batched([f'summarise chapter {i} of the book' for i in range(5)])\n"
                "print(len(answers))"
            ),
            "FINAL(done)",
        ],
        sub=sub,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "summarise the book")
        await wait_for(turn_done(app, 1), pilot)
        await pilot.pause()
        tree = app.chat.tree
        model = app.chat.model
        labels = {n: str(tree.tree_nodes[n].label) for n in tree.tree_nodes}
        calls = [n for n in labels if model.nodes[n].kind == "llm"]
        assert len(calls) == 5
        previews = sorted(labels[n].split("“")[1].split("”")[0] for n in calls)
        assert previews == [f"summarise chapter {i} of the book" for i in range(5)]
        cell = next(n for n in labels if model.nodes[n].kind == "cell")
        assert "5/5 done, 1 failed" in labels[cell]

        await pilot.press("alt+3")
        assert app.focused is tree
        await pilot.press("f")  # failed only: the failure and the nodes above it
        await wait_for(lambda: len(tree.tree_nodes) == 4, pilot)
        shown = {model.nodes[n].kind: n for n in tree.tree_nodes}
        assert set(shown) == {"turn", "iteration", "cell", "llm"}
        assert "chapter 3" in str(tree.tree_nodes[shown["llm"]].label)
        assert "failed only" in str(tree.border_subtitle)
        await pilot.press("f")  # everything again
        await wait_for(lambda: len(tree.tree_nodes) == len(model.nodes), pilot)

        await pilot.press("d")  # depth 0: the root's own steps, no sub-calls
        await wait_for(lambda: not any(model.nodes[n].kind == "llm" for n in tree.tree_nodes), pilot)
        assert "depth ≤ 0" in str(tree.border_subtitle)
        await pilot.press("d")  # depth 1 is the deepest here: the sub-calls are back
        await wait_for(lambda: len(tree.tree_nodes) == len(model.nodes), pilot)
        await pilot.press("d")  # and every depth again
        assert not tree.filter.active


async def test_a_running_fan_out_shows_live_progress_on_its_cell(home):
    import asyncio

    gate = asyncio.Event()

    async def slow_sub(request):
        if "chapter 0" not in request.messages[-1].content:
            await gate.wait()  # the other three wait until the test lets them go
        return "summary"

    app = make_app(
        root=[repl("answers = llm_query_batched([f'chapter {i}' for i in range(4)])"), "FINAL(done)"],
        sub=slow_sub,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        await send(pilot, app, "go")
        tree, model = app.chat.tree, app.chat.model

        def cell_label() -> str:
            cells = [n for n in tree.tree_nodes if model.nodes[n].kind == "cell"]
            return str(tree.tree_nodes[cells[0]].label) if cells else ""

        await wait_for(lambda: "1/4 done" in cell_label(), pilot)
        gate.set()
        await wait_for(lambda: "4/4 done" in cell_label(), pilot)
        await wait_for(turn_done(app, 1), pilot)
