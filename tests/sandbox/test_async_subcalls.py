"""Sub-calls handed to asyncio's helpers: gather, as_completed and create_task, with batched
results (lists) and plain ones mixed."""

from __future__ import annotations

import asyncio


async def _upper(req):
    if req.fn == "llm_query_batched":
        return [p.upper() for p in req.args["prompts"]]
    prompt = req.args["prompt"]
    await asyncio.sleep(1.0 if prompt == "slow" else 0.0)
    return prompt.upper()


async def test_gather_mixes_batched_and_single_calls(worker):
    result = await worker.run_cell(
        "import asyncio\nout = await asyncio.gather(llm_query_batched(['a', 'b']), llm_query('c'))\nprint(out)",
        on_call=_upper,
    )
    assert result.status == "ok", result.error
    assert result.output == "[['A', 'B'], 'C']\n"


async def test_as_completed_yields_the_faster_call_first(worker):
    code = (
        "import asyncio\norder = []\n"
        "for f in asyncio.as_completed([llm_query('slow'), llm_query('fast'), llm_query_batched(['x'])]):\n"
        "    order.append(await f)\n"
        "print(order[0], order[-1])"
    )
    result = await worker.run_cell(code, on_call=_upper)
    assert result.status == "ok", result.error
    first, last = result.output.split(" ")
    assert first in ("FAST", "['X']") and last == "SLOW\n"  # the slow call was made first, ends last


async def test_tasks_and_sets_of_pending_calls(worker):
    code = (
        "import asyncio\ntask = asyncio.create_task(llm_query_batched(['p', 'q']))\n"
        "calls = {llm_query('r'), llm_query_batched(['s'])}\n"
        "out = await asyncio.gather(*calls)\n"
        "print(await task, sorted(map(str, out)))"
    )
    result = await worker.run_cell(code, on_call=_upper)
    assert result.status == "ok", result.error
    assert result.output == "['P', 'Q'] ['R', \"['S']\"]\n"
