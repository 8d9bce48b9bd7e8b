"""The app under load, headless (Textual's test driver), with real widgets:

- a reply of 20,000 tokens streaming at 500 tokens/s: how far the screen lags behind (target: the
  lag at the end <= 0.5 s);
- a call tree of 2,000 nodes: key-press latency moving through it, from the key to the redrawn
  screen (target <= 50 ms);
- opening a recorded session of 500 turns: time to its first frame (target <= 1 s).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _report import report, summary  # noqa: E402

TOKENS = 20_000
RATE = 500  # tokens per second
TOKEN_CHARS = 4
SIZE = (140, 40)


def prose(chars: int) -> str:
    words = [
        "the",
        "recursive",
        "model",
        "keeps",
        "its",
        "inputs",
        "in",
        "a",
        "REPL",
        "and",
        "reads",
        "only",
        "what",
        "its",
        "code",
        "prints",
    ]
    out, n = [], 0
    while n < chars:
        sentence = " ".join(words[(n + i) % len(words)] for i in range(12)).capitalize() + ". "
        out.append(sentence)
        n += len(sentence)
        if len(out) % 6 == 0:
            out.append("\n\n")
    return "".join(out)[:chars]


async def streaming() -> dict[str, float]:
    from rlm_tui.config import load
    from rlm_tui.llm.scripted import Reply, ScriptedClient
    from rlm_tui.ui.app import RLMApp

    text = prose(TOKENS * TOKEN_CHARS)
    emitted = {"chars": 0, "last": 0.0}
    chunk = TOKEN_CHARS * 5  # five tokens a delta, a delta every 10 ms

    class Timed(ScriptedClient):
        async def stream(self, request):
            async for item in super().stream(request):
                if hasattr(item, "text") and not hasattr(item, "usage"):
                    emitted["chars"] += len(item.text)
                    emitted["last"] = time.perf_counter()
                yield item

    client = Timed(lambda r: Reply(text, chunk_chars=chunk, chunk_delay=chunk / TOKEN_CHARS / RATE))
    app = RLMApp(load(), client=client, animate=False)
    lags: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        while not app.startup_done.is_set():
            await pilot.pause(0.05)
        prompt = app.chat.query_one("#prompt")
        prompt.text = "Write a long essay."
        await pilot.press("enter")
        while 1 not in app.chat.chat.assistants:
            await pilot.pause(0.01)
        assistant = app.chat.chat.assistants[1]
        while True:
            await asyncio.sleep(0.01)  # not pilot.pause: that also waits for the app to go idle
            shown = len(assistant.body.source)
            behind = emitted["chars"] - shown
            lags.append(max(0, behind) / TOKEN_CHARS / RATE)
            if emitted["chars"] >= len(text) and shown >= len(text):
                drawn = asyncio.get_running_loop().create_future()  # in the document: now on screen
                app.screen.call_after_refresh(lambda fut=drawn: fut.set_result(time.perf_counter()))
                end_lag = await drawn - emitted["last"]
                break
        await app.action_quit()
    return {"end_lag": end_lag, "max_lag": max(lags), "median_lag": statistics.median(lags)}


def tree_events(nodes: int):
    from rlm_tui.events import (
        CellFinished,
        CellStarted,
        ModelFinished,
        ModelStarted,
        SubCallFinished,
        SubCallStarted,
        TurnFinished,
        TurnStarted,
    )

    b = {"session_id": "bench", "turn": 1}
    events = [
        TurnStarted(
            **b, node_id="t1", parent_id=None, user_message="big tree", root_model="a/r", sub_model="a/s"
        )
    ]
    count, i = 1, 0
    while count < nodes:
        i += 1
        it, cell = f"t1.i{i}", f"t1.i{i}.c1"
        events += [
            ModelStarted(
                **b,
                node_id=it,
                parent_id="t1",
                model="a/r",
                depth=0,
                iteration=i,
                messages=[],
                prompt_chars=1,
            ),
            ModelFinished(
                **b,
                node_id=it,
                parent_id="t1",
                model="a/r",
                text="x",
                usage={"input_tokens": 9},
                cost_usd=0.001,
                duration=1.0,
            ),
            CellStarted(**b, node_id=cell, parent_id=it, code="x = 1", depth=0, iteration=i, index=1),
        ]
        count += 2
        for s in range(18):
            node = f"{cell}.s{s}"
            events += [
                SubCallStarted(
                    **b, node_id=node, parent_id=cell, kind="llm", model="a/s", prompt="p", depth=1
                ),
                SubCallFinished(
                    **b,
                    node_id=node,
                    parent_id=cell,
                    kind="llm",
                    model="a/s",
                    response="r",
                    usage={"input_tokens": 5},
                    cost_usd=0.0001,
                    duration=0.5,
                ),
            ]
            count += 1
        events.append(
            CellFinished(
                **b,
                node_id=cell,
                parent_id=it,
                status="ok",
                output_for_model="",
                output_chars=0,
                dropped_chars=0,
                truncated=False,
                error=None,
                duration=0.1,
            )
        )
    events.append(TurnFinished(**b, node_id="t1", parent_id=None, status="ok", usage={}, duration=100.0))
    return events, count


async def tree_keys() -> tuple[int, dict[str, float]]:
    from rlm_tui.config import load
    from rlm_tui.llm.scripted import ScriptedClient
    from rlm_tui.ui.app import RLMApp

    events, _ = tree_events(2000)
    app = RLMApp(load(), client=ScriptedClient(lambda r: "x"), animate=False)
    times = []
    async with app.run_test(size=SIZE) as pilot:
        while not app.startup_done.is_set():
            await pilot.pause(0.05)
        chat = app.chat
        await chat.render_changes(chat.model.apply_all(events))
        chat.tree.root.expand_all()
        chat.tree.focus()
        await pilot.pause()
        loop = asyncio.get_running_loop()
        for key in ["down"] * 150 + ["up"] * 50:
            # as a terminal delivers it: the key goes in; the time runs until the cursor has moved
            # and the screen has been redrawn (Pilot.press would add its own idle waits)
            before = chat.tree.cursor_line
            started = time.perf_counter()
            app.simulate_key(key)
            while chat.tree.cursor_line == before:
                await asyncio.sleep(0)
            drawn = loop.create_future()
            app.screen.call_after_refresh(lambda fut=drawn: fut.set_result(time.perf_counter()))
            times.append(await drawn - started)
        count = len(chat.tree.tree_nodes)
        await app.action_quit()
    return count, summary(times)


def record_long_session(home: Path, turns: int) -> str:
    from rlm_tui.events import (
        AnswerReady,
        CellFinished,
        CellOutput,
        CellStarted,
        ModelFinished,
        ModelStarted,
        SubCallFinished,
        SubCallStarted,
        TurnFinished,
        TurnStarted,
    )
    from rlm_tui.store.recorder import Recorder
    from rlm_tui.store.sessions import Store

    store = Store(home / "sessions.db")
    recorder = Recorder(store.db)
    sid = "bench-500"
    for n in range(1, turns + 1):
        b, t = {"session_id": sid, "turn": n}, f"t{n}"
        cell = f"{t}.i1.c1"
        for event in [
            TurnStarted(
                **b,
                node_id=t,
                parent_id=None,
                user_message=f"question {n}: what about part {n}?",
                root_model="a/r",
                sub_model="a/s",
            ),
            ModelStarted(
                **b,
                node_id=f"{t}.i1",
                parent_id=t,
                model="a/r",
                depth=0,
                iteration=1,
                messages=[{"role": "user", "content": "q"}],
                prompt_chars=3000,
            ),
            ModelFinished(
                **b,
                node_id=f"{t}.i1",
                parent_id=t,
                model="a/r",
                text="```repl\nprint(1)\n```",
                usage={"input_tokens": 900},
                cost_usd=0.002,
                duration=1.0,
            ),
            CellStarted(
                **b,
                node_id=cell,
                parent_id=f"{t}.i1",
                code=f"part = context[{n}]\nprint(llm_query(part))",
                depth=0,
                iteration=1,
                index=1,
            ),
            SubCallStarted(
                **b, node_id=f"{cell}.s1", parent_id=cell, kind="llm", model="a/s", prompt="p", depth=1
            ),
            SubCallFinished(
                **b,
                node_id=f"{cell}.s1",
                parent_id=cell,
                kind="llm",
                model="a/s",
                response="r",
                usage={},
                cost_usd=0.0001,
                duration=0.4,
            ),
            CellOutput(**b, node_id=cell, parent_id=f"{t}.i1", stream="stdout", text=f"output of turn {n}\n"),
            CellFinished(
                **b,
                node_id=cell,
                parent_id=f"{t}.i1",
                status="ok",
                output_for_model="o",
                output_chars=20,
                dropped_chars=0,
                truncated=False,
                error=None,
                duration=0.5,
            ),
            ModelStarted(
                **b,
                node_id=f"{t}.i2",
                parent_id=t,
                model="a/r",
                depth=0,
                iteration=2,
                messages=[],
                prompt_chars=3100,
            ),
            ModelFinished(
                **b,
                node_id=f"{t}.i2",
                parent_id=t,
                model="a/r",
                text=f"FINAL(answer {n})",
                usage={"input_tokens": 950},
                cost_usd=0.002,
                duration=1.0,
            ),
            AnswerReady(**b, node_id=t, parent_id=None, answer=f"The answer to question {n} is **{n * 7}**."),
            TurnFinished(
                **b,
                node_id=t,
                parent_id=None,
                status="ok",
                usage={"input_tokens": 1850, "cost_usd": 0.0041},
                duration=3.0,
            ),
        ]:
            recorder(event)
    store.close()
    return sid


async def open_long_session(home: Path, sid: str, turns: int) -> float:
    from rlm_tui.config import load
    from rlm_tui.llm.scripted import ScriptedClient
    from rlm_tui.ui.app import RLMApp

    app = RLMApp(load(), client=ScriptedClient(lambda r: "x"), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        while not app.startup_done.is_set():
            await pilot.pause(0.05)
        started = time.perf_counter()
        await app.view_session(sid)
        await pilot.pause()  # the frame is composed and drawn
        elapsed = time.perf_counter() - started
        assert f"question {turns}" in app.chat.chat.assistants[turns].turn.user
        await app.action_quit()
    return elapsed


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["RLM_HOME"] = str(home)
        stream = await streaming()
        count, keys = await tree_keys()
        sid = record_long_session(home, 500)
        opens = [await open_long_session(home, sid, 500) for _ in range(3)]
    open_median = statistics.median(opens)
    report(
        "tui_render",
        [
            {
                "measure": f"stream {TOKENS:,} tokens at {RATE}/s: lag at the end",
                "value": stream["end_lag"],
                "unit": "s",
                "target": "<= 0.5 s",
                "ok": stream["end_lag"] <= 0.5,
            },
            {
                "measure": "  lag while streaming (median / max)",
                "value": stream["median_lag"],
                "unit": f"s / {stream['max_lag']:.3f} s",
            },
            {
                "measure": f"key press in a tree of {count:,} nodes (median)",
                "value": keys["median"] * 1000,
                "unit": "ms",
                "target": "<= 50 ms",
                "ok": keys["median"] <= 0.05,
            },
            {"measure": "  key press (p90)", "value": keys["p90"] * 1000, "unit": "ms"},
            {
                "measure": "open a 500-turn session to first frame (median of 3)",
                "value": open_median,
                "unit": "s",
                "target": "<= 1 s",
                "ok": open_median <= 1.0,
            },
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
