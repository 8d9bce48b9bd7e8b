"""The live progress line of headless runs."""

from __future__ import annotations

import io

from rlm_tui.cli.progress import ProgressLine
from rlm_tui.events import ModelFinished, ModelStarted, Notice, SubCallStarted

BASE = {"session_id": "s", "turn": 1, "parent_id": "t1"}


def test_progress_counts_iterations_sub_calls_tokens_and_cost_and_prints_notices():
    out = io.StringIO()
    progress = ProgressLine(out, live=True)
    progress(
        ModelStarted(**BASE, node_id="t1.i1", model="m", depth=0, iteration=1, messages=[], prompt_chars=1)
    )
    progress(
        ModelFinished(
            **BASE,
            node_id="t1.i1",
            model="m",
            text="",
            duration=1.0,
            cost_usd=0.0125,
            usage={"input_tokens": 1000, "output_tokens": 200},
        )
    )
    progress._last_draw = 0.0
    progress(SubCallStarted(**BASE, node_id="t1.i1.c1.s1", kind="llm", model="m", prompt="p", depth=1))
    progress(
        SubCallStarted(**BASE, node_id="t1.i1.c1.s2", kind="llm", model="m", prompt="p", depth=1, cached=True)
    )
    progress(Notice(**BASE, node_id="t1.i1", kind="retry", message="m: HTTP 429; retry 1 in 2.0 s"))
    assert progress.text().startswith("iteration 1 | sub-calls 1 | 1,200 tokens | $0.0125 |")
    written = out.getvalue()
    assert "\r\x1b[Kiteration 1 | sub-calls 1 | 1,200 tokens | $0.0125" in written
    assert "rlm: m: HTTP 429; retry 1 in 2.0 s\n" in written
    progress(
        ModelFinished(
            **BASE,
            node_id="t1.i2",
            model="m",
            text="",
            duration=1.0,
            cost_usd=None,
            usage={"input_tokens": 1},
        )
    )
    assert "$0.0125+?" in progress.text()  # an unknown price is never shown as 0


def test_progress_is_silent_but_for_notices_when_stderr_is_not_a_terminal():
    out = io.StringIO()
    progress = ProgressLine(out, live=False)
    progress(
        ModelStarted(**BASE, node_id="t1.i1", model="m", depth=0, iteration=1, messages=[], prompt_chars=1)
    )
    progress(Notice(**BASE, node_id="t1.i1", kind="limit", message="(Stopped by the cost limit.)"))
    assert out.getvalue() == "rlm: (Stopped by the cost limit.)\n"


def test_a_child_rlm_total_is_not_counted_twice():
    from rlm_tui.events import SubCallFinished

    progress = ProgressLine(io.StringIO(), live=False)
    progress(
        ModelFinished(
            **BASE,
            node_id="t1.i1.c1.s1.i1",
            model="m",
            text="",
            duration=1.0,
            cost_usd=0.5,
            usage={"input_tokens": 1000, "output_tokens": 100},
        )
    )
    progress(
        SubCallFinished(
            **BASE,
            node_id="t1.i1.c1.s1",
            kind="rlm",
            model="m",
            response="r",
            duration=1.0,
            cost_usd=0.5,
            usage={"input_tokens": 1000, "output_tokens": 100},
        )
    )
    assert progress.tokens == 1100 and progress.cost == 0.5


async def test_the_live_line_keeps_time_while_no_event_comes():
    import asyncio

    stream = io.StringIO()
    progress = ProgressLine(stream, live=True)
    progress.started -= 5  # a cell has been running for five seconds
    ticker = asyncio.create_task(progress.tick(every=0.01))
    while stream.getvalue().count("\r\x1b[K") < 3:  # redrawn three times, with no event at all
        await asyncio.sleep(0.01)
    ticker.cancel()
    times = [float(draw.rsplit("|", 1)[1].split()[0]) for draw in stream.getvalue().split("\r\x1b[K")[1:]]
    assert len(times) >= 3 and all(t >= 5.0 for t in times) and times == sorted(times)
    quiet = ProgressLine(io.StringIO(), live=False)
    await asyncio.wait_for(quiet.tick(every=0.01), 1)  # nothing to redraw off a terminal: it ends


def test_a_file_being_attached_is_named_with_its_size_and_time_then_the_turn_shows():
    out = io.StringIO()
    progress = ProgressLine(out, live=True)
    progress.attach_started("huge.log (10.0 GB)")
    assert out.getvalue().endswith("attaching huge.log (10.0 GB) | 0.0 s")
    read = [None]  # how far the host's gauge says the worker has read
    progress.attach_started("huge.log (10.0 GB)", lambda: read[0])
    assert progress.text().endswith("attaching huge.log (10.0 GB) | 0.0 s")  # not known yet
    read[0] = (3_700_000_000, 10_000_000_000)
    assert progress.text().startswith("attaching huge.log (10.0 GB) | 37% | ")
    progress.attach_finished()
    progress(
        ModelStarted(**BASE, node_id="t1.i1", model="m", depth=0, iteration=1, messages=[], prompt_chars=1)
    )
    assert progress.text().startswith("iteration 1 |")
