"""The loopback fake provider in a process of its own, for benchmarks that measure a client's CPU
(a server in the same process would be counted too).

    python bench/_loopback.py DELAY   ->  prints the OpenAI base URL, serves until stdin closes

Root calls (a system prompt that says "Recursive Language Model") alternate: a cell that makes
the sub-calls the user message asks for, then FINAL. Sub-calls answer after DELAY seconds.
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.provider import FakeProvider, FakeReply, FakeRequest

CALLS = re.compile(r"(\d+) SUB-CALLS")


def responder(delay: float):
    def answer(request: FakeRequest) -> FakeReply | str:
        if "Recursive Language Model" not in request.system:
            return FakeReply(text="a sub-model's answer", delay=delay)
        if any(m["role"] == "assistant" for m in request.messages):  # the cell has run: finish
            return "FINAL(done)"
        found = CALLS.search(request.text())
        n = int(found.group(1)) if found else 1
        if n == 1:
            return "```repl\nanswer_text = llm_query('SUB: say something')\nprint(answer_text)\n```"
        return f"```repl\nanswers = llm_query_batched(['SUB: item ' + str(i) for i in range({n})])\nprint(len(answers))\n```"

    return answer


def main() -> None:
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    with FakeProvider(responder(delay)) as provider:
        print(provider.openai_base, flush=True)
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        done.wait()


if __name__ == "__main__":
    main()
