"""Root prompt size over a 200-turn session against the loopback provider, beside a plain chat
that resends the whole history every turn.

The RLM keeps earlier turns in `history` inside the REPL, so its root prompt should stay flat.
Target: turn 200's root prompt <= 1.1 x turn 2's.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _report import report  # noqa: E402

from rlm_tui.engine.session import Session  # noqa: E402
from rlm_tui.engine.settings import EngineSettings  # noqa: E402
from rlm_tui.llm.router import ModelRouter  # noqa: E402
from rlm_tui.sandbox.host import Worker  # noqa: E402
from tests.fakes.provider import FakeProvider, Script  # noqa: E402

TURNS = 200
SHOWN = (1, 2, 10, 50, 100, 150, 200)


def user_message(n: int) -> str:
    return f"Turn {n}: here is another question about the data, phrased at a realistic length. " * 2


def root_reply(request) -> str:
    n = sum(1 for m in request.messages if m["role"] == "assistant") + 1
    if n == 1:  # first call of a turn: work in the REPL, keep a note, answer
        return (
            "```repl\nmemory['turns_seen'] = memory.get('turns_seen', 0) + 1\n"
            "recent = history[-2:]\n"
            "FINAL(f\"Answer number {memory['turns_seen']}: \" + 'a considered reply of realistic length. ' * 6)\n```"
        )
    return "FINAL(done)"


async def main() -> None:
    os.environ.setdefault("ANTHROPIC_API_KEY", "bench-key")
    script = Script()
    script.on(system_contains="Recursive Language Model", reply=root_reply)
    sizes: dict[int, int] = {}
    plain: dict[int, int] = {}
    with FakeProvider(script) as provider, tempfile.TemporaryDirectory() as tmp:
        router = ModelRouter(api_base=provider.anthropic_base, sub_api_base=provider.anthropic_base)
        settings = EngineSettings("anthropic/claude-sonnet-5-5", "anthropic/claude-haiku-5-5")
        async with Session(settings, router, repl_factory=Worker, workdir=tmp) as session:
            resent = 0
            for n in range(1, TURNS + 1):
                first_request = len(provider.requests)
                message = user_message(n)
                result = await session.run_turn(message)
                assert result.status == "ok", result
                request = provider.requests[first_request]
                sizes[n] = len(request.text())
                plain[n] = len(request.system) + resent + len(message)
                resent += len(message) + len(result.answer or "")
    rows = []
    for n in SHOWN:
        rows.append({"measure": f"turn {n:>3}: root prompt", "value": sizes[n], "unit": "chars"})
        rows.append(
            {"measure": f"turn {n:>3}: plain chat (whole history)", "value": plain[n], "unit": "chars"}
        )
    growth = sizes[TURNS] / sizes[2]
    rows.append(
        {
            "measure": f"turn {TURNS} / turn 2 (root prompt)",
            "value": growth,
            "unit": "x",
            "target": "<= 1.1 x",
            "ok": growth <= 1.1,
        }
    )
    rows.append(
        {
            "measure": f"plain chat / root prompt at turn {TURNS}",
            "value": plain[TURNS] / sizes[TURNS],
            "unit": "x",
        }
    )
    report("prompt_growth", rows)


if __name__ == "__main__":
    asyncio.run(main())
