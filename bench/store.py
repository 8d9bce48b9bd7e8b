"""Store speed: recording overhead per event, loading a big session's events, full-text search.

Targets: recording <= 1 ms median per event; loading a session of 2,000 cells and 5,000 tree
nodes <= 300 ms; full-text search over 10,000 sessions <= 100 ms.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report, summary

from rlm_tui.events import (
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

WORDS = (
    "river",
    "mountain",
    "ledger",
    "invoice",
    "protein",
    "galaxy",
    "tariff",
    "sonnet",
    "harbor",
    "quartz",
    "lantern",
    "meadow",
    "cipher",
    "orchid",
    "falcon",
    "saffron",
    "tundra",
    "voltage",
    "marble",
    "nectar",
)


def sentence(rng: random.Random, n: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def big_session(sid: str, cells: int = 2000, nodes: int = 5000, turns: int = 100) -> list:
    """A session's events: `cells` code cells among `nodes` tree nodes (turns, iterations, cells and
    sub-calls together), spread over `turns`."""
    rng = random.Random(1)
    events = []
    per_turn_cells = cells // turns
    sub_calls = nodes - turns - 2 * cells  # each cell has its own iteration node
    per_turn_subs = sub_calls // turns
    for turn in range(1, turns + 1):
        b = {"session_id": sid, "turn": turn}
        t = f"t{turn}"
        events.append(
            TurnStarted(
                **b, node_id=t, parent_id=None, user_message=sentence(rng), root_model="a/r", sub_model="a/s"
            )
        )
        for c in range(per_turn_cells):
            it, cell = f"{t}.i{c + 1}", f"{t}.i{c + 1}.c1"
            events.append(
                ModelStarted(
                    **b,
                    node_id=it,
                    parent_id=t,
                    model="a/r",
                    depth=0,
                    iteration=c + 1,
                    messages=[{"role": "user", "content": sentence(rng, 40)}],
                    prompt_chars=3000,
                )
            )
            events.append(
                ModelFinished(
                    **b,
                    node_id=it,
                    parent_id=t,
                    model="a/r",
                    text=sentence(rng, 60),
                    usage={"input_tokens": 900, "output_tokens": 80},
                    cost_usd=0.002,
                    duration=1.2,
                )
            )
            events.append(
                CellStarted(
                    **b, node_id=cell, parent_id=it, code=sentence(rng, 30), depth=0, iteration=c + 1, index=1
                )
            )
            events.append(
                CellOutput(**b, node_id=cell, parent_id=it, stream="stdout", text=sentence(rng, 50))
            )
            for s in range(
                per_turn_subs // per_turn_cells + (1 if c < per_turn_subs % per_turn_cells else 0)
            ):
                node = f"{cell}.s{s + 1}"
                events.append(
                    SubCallStarted(
                        **b,
                        node_id=node,
                        parent_id=cell,
                        kind="llm",
                        model="a/s",
                        prompt=sentence(rng, 30),
                        depth=1,
                    )
                )
                events.append(
                    SubCallFinished(
                        **b,
                        node_id=node,
                        parent_id=cell,
                        kind="llm",
                        model="a/s",
                        response=sentence(rng, 20),
                        usage={"input_tokens": 50, "output_tokens": 20},
                        cost_usd=0.0001,
                        duration=0.8,
                    )
                )
            events.append(
                CellFinished(
                    **b,
                    node_id=cell,
                    parent_id=it,
                    status="ok",
                    output_for_model=sentence(rng, 50),
                    output_chars=300,
                    dropped_chars=0,
                    truncated=False,
                    error=None,
                    duration=0.4,
                )
            )
        events.append(
            TurnFinished(
                **b,
                node_id=t,
                parent_id=None,
                status="ok",
                usage={"input_tokens": 1, "output_tokens": 1, "cost_usd": 0.1},
                duration=30.0,
            )
        )
    return events


def fill_for_search(store: Store, sessions: int = 10_000) -> None:
    rng = random.Random(2)
    conn = store.conn
    conn.execute("BEGIN")
    for i in range(sessions):
        sid = f"bench-{i:05d}"
        conn.execute(
            "INSERT INTO sessions (id, title, created, updated, turns) VALUES (?, ?, ?, ?, 3)",
            (sid, sentence(rng, 6), i, i),
        )
        conn.executemany(
            "INSERT INTO messages (session_id, turn, role, content, t) VALUES (?, ?, ?, ?, ?)",
            [(sid, turn, role, sentence(rng, 25), i) for turn in (1, 2, 3) for role in ("user", "assistant")],
        )
        conn.executemany(
            "INSERT INTO cells (session_id, turn, node_id, depth, code) VALUES (?, ?, ?, 0, ?)",
            [(sid, turn, f"t{turn}.i1.c1", sentence(rng, 20)) for turn in (1, 2, 3)],
        )
    conn.execute("COMMIT")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        recorder = Recorder(store.db)
        events = big_session("big")
        per_event = []
        for event in events:
            started = time.perf_counter()
            recorder(event)
            per_event.append(time.perf_counter() - started)
        record = summary(per_event)
        loads = []
        for _ in range(5):
            started = time.perf_counter()
            loaded = store.events("big")
            loads.append(time.perf_counter() - started)
        assert len(loaded) == len(events)
        cells = sum(1 for e in events if e.event_type == "CellStarted")
        nodes = sum(
            1
            for e in events
            if e.event_type in ("SubCallStarted", "ModelStarted", "CellStarted", "TurnStarted")
        )
        fill_for_search(store)
        searches = []
        for word in WORDS:
            started = time.perf_counter()
            hits = store.search(word, limit=50)
            searches.append(time.perf_counter() - started)
            assert hits
        store.close()
    load = statistics.median(loads)
    search = statistics.median(searches)
    report(
        "store",
        [
            {
                "measure": f"record one event (median of {len(events):,})",
                "value": record["median"] * 1000,
                "unit": "ms",
                "target": "<= 1 ms",
                "ok": record["median"] <= 0.001,
            },
            {"measure": "record one event (p90)", "value": record["p90"] * 1000, "unit": "ms"},
            {
                "measure": f"load a session: {cells:,} cells, {nodes:,} tree nodes, {len(events):,} events",
                "value": load * 1000,
                "unit": "ms",
                "target": "<= 300 ms",
                "ok": load <= 0.3,
            },
            {
                "measure": "full-text search over 10,000 sessions (median)",
                "value": search * 1000,
                "unit": "ms",
                "target": "<= 100 ms",
                "ok": search <= 0.1,
            },
            {"measure": "full-text search (slowest word)", "value": max(searches) * 1000, "unit": "ms"},
        ],
    )


if __name__ == "__main__":
    main()
