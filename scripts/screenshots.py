"""Render the README's screenshots (SVG) from a live scripted session.

The real engine, worker and app run; only the model is scripted (with latency, so the tree is
caught with sub-calls still running). Each main screen is saved in the default and the light
theme into screenshots/.

The screenshots are the same on every run: the clock the app reads moves only by the scripted
delays (from a fixed date), and session ids come from a counter, so running the script again
without a change to the UI leaves `git diff` empty.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import types
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


EPOCH = 1795426260.0  # 2026-11-22 09:31 UTC


class ScriptClock:
    """``time.time`` and ``time.perf_counter`` for the app while it is filmed: time passes only
    when a scripted reply waits (really, too, so the tree is caught with calls running), and a
    wait ends at its start plus its delay, so every duration on screen is a sum of delays."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return EPOCH + self.now

    async def sleep(self, seconds: float) -> None:
        start = self.now
        await asyncio.sleep(seconds)
        self.now = max(self.now, start + seconds)


def responder(clock: ScriptClock):
    from rlm_tui.llm.scripted import Reply

    async def respond(request):
        prompt = request.messages[-1].content
        if request.purpose == "sub":
            for n, (category, names) in enumerate(LISTS.items()):
                if category in prompt:
                    await clock.sleep([0.4, 3.0, 4.5][n])
                    return Reply("\n".join(names))
            await clock.sleep(0.8)
            return Reply("\n".join(FRUITS))
        await clock.sleep(0.3)
        replies = sum(1 for m in request.messages if m.role == "assistant")
        if "Turn 1" in request.messages[0].content:
            return Reply(TURN1 if replies == 0 else TURN1_DONE, chunk_chars=6)
        return Reply(TURN2 if replies == 0 else TURN2_DONE, chunk_chars=6)

    return respond


@contextlib.contextmanager
def filmed():
    """The app's clock and session ids made repeatable (see ScriptClock)."""
    import itertools
    import time
    import uuid

    from rlm_tui.engine import session

    clock = ScriptClock()
    counter = itertools.count(0xC0FFEE << 104)
    saved = time.time, time.perf_counter, session.uuid, os.environ.get("TZ")
    time.time, time.perf_counter = clock.time, clock.perf_counter
    session.uuid = types.SimpleNamespace(uuid4=lambda: uuid.UUID(int=next(counter)))
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield clock
    finally:
        time.time, time.perf_counter, session.uuid, tz = saved
        if tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = tz
        time.tzset()


async def shoot(theme: str, suffix: str) -> None:
    from rlm_tui.config import load
    from rlm_tui.llm.scripted import ScriptedClient
    from rlm_tui.ui.app import RLMApp

    with filmed() as clock:
        app = RLMApp(load(), client=ScriptedClient(responder(clock), price_per_token=3e-6), animate=False)
        await film(app, theme, suffix)


async def settle(pilot, chat) -> None:
    """The chat scrolled to its end and every pending refresh drawn, whatever the timing was."""
    await pilot.pause(0.3)
    chat.chat.scroll_end(animate=False, immediate=True)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.1)


async def film(app, theme: str, suffix: str) -> None:
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
            return turn is not None and turn.status != "running" and not app.workspace.busy

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
        await settle(pilot, chat)
        app.save_screenshot(f"chat-mid-turn{suffix}.svg", str(OUT))
        while not finished(2):
            await pilot.pause(0.05)
        await settle(pilot, chat)
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
