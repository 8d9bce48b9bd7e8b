"""The root prompt's size over one long turn of 40 iterations, with and without compaction.

Each iteration's cell prints ~1,500 characters, as a model exploring a file does. Without a known
window the prompt only grows; with an 8,192-token window the engine compacts older iterations and
every call (prompt and room for the reply) stays within it. The real engine and worker run; the
model is scripted.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _report import report  # noqa: E402

from rlm_tui.engine.session import Session  # noqa: E402
from rlm_tui.engine.settings import EngineSettings, Limits  # noqa: E402
from rlm_tui.events import Compacted  # noqa: E402
from rlm_tui.llm.base import estimate_tokens  # noqa: E402
from rlm_tui.llm.scripted import ScriptedClient, by_purpose  # noqa: E402
from rlm_tui.sandbox.host import Worker  # noqa: E402

ITERATIONS = 40
WINDOW = 8192
SHOWN = (1, 5, 10, 20, 30, 40)


def replies() -> list[str]:
    cell = "```repl\nstep{i} = {i}\nprint(('line {i}: ' + 'x' * 90 + chr(10)) * 15)\n```"
    return [*(cell.format(i=i) for i in range(1, ITERATIONS)), "FINAL_VAR(step39)"]


async def one_turn(window: int | None) -> tuple[list[int], list[int], int, str]:
    """(prompt tokens of each root call, its max_tokens, compactions, the turn's status)"""
    client = ScriptedClient(
        by_purpose(replies()), context_windows={"scripted/root": window} if window else {}
    )
    settings = EngineSettings("scripted/root", "scripted/sub", limits=Limits(max_iterations=ITERATIONS))
    events: list = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Session(settings, client, events.append, repl_factory=Worker, workdir=tmp) as session:
            result = await session.run_turn("Explore the data step by step.")
    prompts = [
        estimate_tokens((r.system or "") + "".join(m.content for m in r.messages)) for r in client.requests
    ]
    room = [r.max_tokens or 0 for r in client.requests]
    return prompts, room, sum(isinstance(e, Compacted) for e in events), result.status


async def main() -> None:
    plain, _, _, plain_status = await one_turn(None)
    fitted, room, compactions, status = await one_turn(WINDOW)
    rows: list[dict] = [
        {"measure": f"root prompt at iteration {n}: with compaction (without)", "value": fitted[n - 1],
         "unit": f"tok ({plain[n - 1]:,})"}
        for n in SHOWN
    ]  # fmt: skip
    peak = max(p + r for p, r in zip(fitted, room, strict=True))
    rows += [
        {"measure": "largest call with compaction: prompt + room for the reply", "value": peak, "unit": "tok",
         "target": f"<= {WINDOW:,}", "ok": peak <= WINDOW},
        {"measure": "largest prompt without compaction", "value": max(plain), "unit": f"tok (turn {plain_status})"},
        {"measure": "compactions in the turn", "value": compactions, "unit": f"(turn {status})"},
    ]  # fmt: skip
    report("prompt_compaction", rows)


if __name__ == "__main__":
    asyncio.run(main())
