"""Render the README's screenshots (SVG) from a live scripted session.

The real engine, worker and app run; only the model is scripted (with latency, so the tree is
caught with sub-calls still running). Each main screen is saved in the default and the light
theme into screenshots/.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "screenshots"
SIZE = (150, 44)

FRUITS = ["Apple", "Banana", "Cherry", "Strawberry", "Raspberry", "Cranberry", "Mango", "Pear"]
LISTS = {
    "fruits": FRUITS,
    "countries": ["Brazil", "Peru", "Norway", "Argentina", "France", "Croatia"],
    "animals": ["Tiger", "Parrot", "Horse", "Bear", "Zebra", "Ferret"],
}
TURN1 = """Let me get the names from a sub-model first, then count in code.
```repl
fruits = llm_query('List eight fruits, one per line, nothing else.').splitlines()
print(len(fruits), fruits)
```"""
TURN1_DONE = """```repl
counts = {f: f.lower().count('r') for f in fruits}
memory['fruit_counts'] = counts
FINAL_VAR('counts')
```"""
TURN2 = """Three lists at once, concurrently, then the counts per category.
```repl
import asyncio
categories = ['fruits', 'countries', 'animals']
lists = await asyncio.gather(*(llm_query(f'Name some {c}, one per line.') for c in categories))
totals = {c: sum(n.lower().count('r') for n in names.splitlines()) for c, names in zip(categories, lists)}
for c, names in zip(categories, lists):
    print(f'{c:>9}: {names.splitlines()}')
print(totals)
```"""
TURN2_DONE = "FINAL(**Fruits** win with 12 r's in total, then animals (8) and countries (6). The counts are in `totals`.)"


def respond(request):
    from rlm_tui.llm.scripted import Reply

    prompt = request.messages[-1].content
    if request.purpose == "sub":
        for n, (category, names) in enumerate(LISTS.items()):
            if category in prompt:
                return Reply("\n".join(names), delay=[0.4, 3.0, 4.5][n])
        return Reply("\n".join(FRUITS), delay=0.8)
    replies = sum(1 for m in request.messages if m.role == "assistant")
    if "Turn 1" in request.messages[0].content:
        return Reply(TURN1 if replies == 0 else TURN1_DONE, chunk_chars=6, delay=0.3)
    return Reply(TURN2 if replies == 0 else TURN2_DONE, chunk_chars=6, delay=0.3)


async def shoot(theme: str, suffix: str) -> None:
    from rlm_tui.config import load
    from rlm_tui.llm.scripted import ScriptedClient
    from rlm_tui.ui.app import RLMApp

    app = RLMApp(load(), client=ScriptedClient(respond, price_per_token=3e-6), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        while not app.startup_done.is_set():
            await pilot.pause(0.05)
        app.theme = theme
        chat = app.chat
        chat.query_one("#prompt").cursor_blink = False

        async def ask(text: str) -> None:
            prompt = chat.query_one("#prompt")
            prompt.focus()
            prompt.text = text
            await pilot.press("enter")

        def finished(n: int) -> bool:
            turn = chat.model.turns.get(n)
            return turn is not None and turn.status != "running" and not app.controller.busy

        await ask("Count the r's in some fruit names.")
        while not finished(1):
            await pilot.pause(0.05)
        await ask("Now fruits, countries and animals: which has the most r's?")
        while (
            sum(
                1
                for n in chat.model.nodes.values()
                if n.kind == "llm" and n.status == "ok" and n.id.startswith("t2")
            )
            < 1
        ):
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        app.save_screenshot(f"chat-mid-turn{suffix}.svg", str(OUT))
        while not finished(2):
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        app.save_screenshot(f"chat{suffix}.svg", str(OUT))
        chat.tree.focus()
        chat.tree.move_cursor(chat.tree.tree_nodes["t2.i1.c1.s2"])
        await pilot.press("enter")
        await pilot.pause(0.3)
        app.save_screenshot(f"node-detail{suffix}.svg", str(OUT))
        await pilot.press("escape")
        await pilot.press("ctrl+o")
        await pilot.pause(0.8)
        app.save_screenshot(f"sessions{suffix}.svg", str(OUT))
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause(0.3)
        app.save_screenshot(f"help{suffix}.svg", str(OUT))
        await app.action_quit()


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        os.environ["RLM_HOME"] = home
        await shoot("rlm-dark", "")
    with tempfile.TemporaryDirectory() as home:
        os.environ["RLM_HOME"] = home
        await shoot("rlm-light", "-light")
    for svg in sorted(OUT.glob("*.svg")):
        print(svg.relative_to(ROOT))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    asyncio.run(main())
