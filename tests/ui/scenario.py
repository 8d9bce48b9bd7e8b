"""A fixed, deterministic session as events: for snapshot tests (same times, same durations)."""

from __future__ import annotations

from rlm_tui.events import (
    AnswerReady,
    CellFinished,
    CellOutput,
    CellStarted,
    Event,
    ModelDelta,
    ModelFinished,
    ModelStarted,
    SubCallFinished,
    SubCallStarted,
    TurnFinished,
    TurnStarted,
)

SID = "20261122-101500-abc123"
T0 = 1_790_000_000.0
ROOT, SUB = "anthropic/claude-sonnet-5-5", "anthropic/claude-haiku-5-5"
FRUITS = ["Apple", "Banana", "Cherry", "Strawberry", "Raspberry", "Cranberry"]
CODE1 = "fruits = llm_query('List six fruits, one per line.').splitlines()\nprint(len(fruits), fruits)"
CODE2 = "counts = {f: f.lower().count('r') for f in fruits}\nFINAL_VAR('counts')"
CODE3 = (
    "import asyncio\ncategories = ['fruits', 'countries', 'animals']\n"
    "lists = await asyncio.gather(*(llm_query(f'Name ten {c}') for c in categories))\n"
    "for c, names in zip(categories, lists):\n    print(c, '->', names.splitlines()[:3])"
)
USAGE = {"input_tokens": 2400, "output_tokens": 180, "cache_read_tokens": 0, "cache_write_tokens": 0}


def _b(turn: int) -> dict:
    return {"session_id": SID, "turn": turn}


def first_turn() -> list[Event]:
    b, t = _b(1), T0
    answer = "\n".join(f'  "{f}": {f.lower().count("r")},' for f in FRUITS)
    answer = "{\n" + answer.rstrip(",") + "\n}"
    return [
        TurnStarted(
            **b,
            node_id="t1",
            parent_id=None,
            t=t,
            user_message="Count the r's in six fruit names.",
            root_model=ROOT,
            sub_model=SUB,
        ),
        ModelStarted(
            **b,
            node_id="t1.i1",
            parent_id="t1",
            t=t + 0.1,
            model=ROOT,
            depth=0,
            iteration=1,
            messages=[{"role": "user", "content": "Turn 1 ..."}],
            prompt_chars=3100,
        ),
        ModelFinished(
            **b,
            node_id="t1.i1",
            parent_id="t1",
            t=t + 2.0,
            model=ROOT,
            text="First the names.\n```repl\n" + CODE1 + "\n```",
            usage=USAGE,
            cost_usd=0.0099,
            duration=1.9,
        ),
        CellStarted(
            **b, node_id="t1.i1.c1", parent_id="t1.i1", t=t + 2.0, code=CODE1, depth=0, iteration=1, index=1
        ),
        SubCallStarted(
            **b,
            node_id="t1.i1.c1.s1",
            parent_id="t1.i1.c1",
            t=t + 2.0,
            kind="llm",
            model=SUB,
            prompt="List six fruits, one per line.",
            depth=1,
        ),
        SubCallFinished(
            **b,
            node_id="t1.i1.c1.s1",
            parent_id="t1.i1.c1",
            t=t + 2.8,
            kind="llm",
            model=SUB,
            response="\n".join(FRUITS),
            usage={"input_tokens": 15, "output_tokens": 20},
            cost_usd=0.0001,
            duration=0.8,
        ),
        CellOutput(
            **b, node_id="t1.i1.c1", parent_id="t1.i1", t=t + 2.8, stream="stdout", text=f"6 {FRUITS}\n"
        ),
        CellFinished(
            **b,
            node_id="t1.i1.c1",
            parent_id="t1.i1",
            t=t + 2.8,
            status="ok",
            output_for_model=f"6 {FRUITS}\n",
            output_chars=70,
            dropped_chars=0,
            truncated=False,
            error=None,
            duration=0.82,
        ),
        ModelStarted(
            **b,
            node_id="t1.i2",
            parent_id="t1",
            t=t + 2.9,
            model=ROOT,
            depth=0,
            iteration=2,
            messages=[],
            prompt_chars=3400,
        ),
        ModelFinished(
            **b,
            node_id="t1.i2",
            parent_id="t1",
            t=t + 4.0,
            model=ROOT,
            text="```repl\n" + CODE2 + "\n```",
            usage=USAGE,
            cost_usd=0.0101,
            duration=1.1,
        ),
        CellStarted(
            **b, node_id="t1.i2.c1", parent_id="t1.i2", t=t + 4.0, code=CODE2, depth=0, iteration=2, index=1
        ),
        CellFinished(
            **b,
            node_id="t1.i2.c1",
            parent_id="t1.i2",
            t=t + 4.0,
            status="ok",
            output_for_model="",
            output_chars=0,
            dropped_chars=0,
            truncated=False,
            error=None,
            duration=0.01,
            final=answer,
        ),
        AnswerReady(**b, node_id="t1", parent_id=None, t=t + 4.0, answer="```json\n" + answer + "\n```"),
        TurnFinished(
            **b,
            node_id="t1",
            parent_id=None,
            t=t + 4.0,
            status="ok",
            duration=4.0,
            usage={"input_tokens": 4815, "output_tokens": 380, "cost_usd": 0.0201, "cost_complete": True},
        ),
    ]


def second_turn_running() -> list[Event]:
    b, t = _b(2), T0 + 60
    events: list[Event] = [
        TurnStarted(
            **b,
            node_id="t2",
            parent_id=None,
            t=t,
            user_message="Now fruits, countries and animals: which has most r's?",
            root_model=ROOT,
            sub_model=SUB,
        ),
        ModelStarted(
            **b,
            node_id="t2.i1",
            parent_id="t2",
            t=t + 0.1,
            model=ROOT,
            depth=0,
            iteration=1,
            messages=[],
            prompt_chars=3200,
        ),
    ]
    reply = "Three lists at once, then count.\n```repl\n" + CODE3 + "\n```"
    for i in range(0, len(reply), 12):
        events.append(ModelDelta(**b, node_id="t2.i1", parent_id="t2", t=t + 0.2, text=reply[i : i + 12]))
    events += [
        ModelFinished(
            **b,
            node_id="t2.i1",
            parent_id="t2",
            t=t + 2.0,
            model=ROOT,
            text=reply,
            usage=USAGE,
            cost_usd=0.0099,
            duration=1.9,
        ),
        CellStarted(
            **b, node_id="t2.i1.c1", parent_id="t2.i1", t=t + 2.0, code=CODE3, depth=0, iteration=1, index=1
        ),
    ]
    for n, category in enumerate(["fruits", "countries", "animals"], 1):
        events.append(
            SubCallStarted(
                **b,
                node_id=f"t2.i1.c1.s{n}",
                parent_id="t2.i1.c1",
                t=t + 2.0,
                kind="llm",
                model=SUB,
                prompt=f"Name ten {category}",
                depth=1,
            )
        )
    events.append(
        SubCallFinished(
            **b,
            node_id="t2.i1.c1.s1",
            parent_id="t2.i1.c1",
            t=t + 2.7,
            kind="llm",
            model=SUB,
            response="\n".join(FRUITS),
            usage={"input_tokens": 12, "output_tokens": 40},
            cost_usd=0.0001,
            duration=0.7,
        )
    )
    return events


def second_turn_finished() -> list[Event]:
    b, t = _b(2), T0 + 60
    lists = {"countries": "Brazil\nPeru\nNorway", "animals": "Tiger\nParrot\nHorse"}
    events: list[Event] = []
    for n, category in ((2, "countries"), (3, "animals")):
        events.append(
            SubCallFinished(
                **b,
                node_id=f"t2.i1.c1.s{n}",
                parent_id="t2.i1.c1",
                t=t + 3.0,
                kind="llm",
                model=SUB,
                response=lists[category],
                usage={"input_tokens": 12, "output_tokens": 40},
                cost_usd=0.0001,
                duration=1.0,
            )
        )
    output = "fruits -> ['Apple', 'Banana', 'Cherry']\ncountries -> ['Brazil', 'Peru', 'Norway']\nanimals -> ['Tiger', 'Parrot', 'Horse']\n"
    answer = "**Fruits** win: *Strawberry*, *Raspberry* and *Cranberry* have three r's each."
    events += [
        CellOutput(**b, node_id="t2.i1.c1", parent_id="t2.i1", t=t + 3.0, stream="stdout", text=output),
        CellFinished(
            **b,
            node_id="t2.i1.c1",
            parent_id="t2.i1",
            t=t + 3.0,
            status="ok",
            output_for_model=output,
            output_chars=len(output),
            dropped_chars=0,
            truncated=False,
            error=None,
            duration=1.02,
        ),
        ModelStarted(
            **b,
            node_id="t2.i2",
            parent_id="t2",
            t=t + 3.1,
            model=ROOT,
            depth=0,
            iteration=2,
            messages=[],
            prompt_chars=3600,
        ),
        ModelFinished(
            **b,
            node_id="t2.i2",
            parent_id="t2",
            t=t + 4.2,
            model=ROOT,
            text=f"FINAL({answer})",
            usage=USAGE,
            cost_usd=0.0102,
            duration=1.1,
        ),
        AnswerReady(**b, node_id="t2", parent_id=None, t=t + 4.2, answer=answer),
        TurnFinished(
            **b,
            node_id="t2",
            parent_id=None,
            t=t + 4.2,
            status="ok",
            duration=4.2,
            usage={"input_tokens": 4900, "output_tokens": 400, "cost_usd": 0.0203, "cost_complete": True},
        ),
    ]
    return events
