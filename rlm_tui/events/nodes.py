"""The node-id grammar of the call tree: the one place ids are built and read.

    t3                     turn 3
    t3.i2                  the root RLM's 2nd iteration (a model call) in turn 3
    t3.best                the root RLM's last call for a best answer after a limit
    t3.k1                  the root RLM's 1st compaction of its prompt (to fit the context window)
    t3.i2.c1               the 1st code cell of that iteration's reply
    t3.i2.c1.s4            the 4th sub-call (llm_query / rlm_query) made by that cell
    t3.i2.c1.s4.retry      its own attempt, after the identical call it waited for failed
    t3.i2.c1.s4.i1         an rlm_query child's 1st iteration (children nest the same way)
    resume                 notices about resuming a session (belong to no turn's tree)

An id is a dot-separated path; each segment is a letter and a number (or ``best``, ``retry``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RESUME = "resume"
_SEGMENT = re.compile(r"(t|i|c|s|k)(\d+)|best|retry")


def turn(number: int) -> str:
    return f"t{number}"


def iteration(parent: str, number: int) -> str:
    return f"{parent}.i{number}"


def best_answer(parent: str) -> str:
    return f"{parent}.best"


def compaction(parent: str, number: int) -> str:
    return f"{parent}.k{number}"


def cell(iteration_node: str, index: int) -> str:
    return f"{iteration_node}.c{index}"


def sub_call(cell_node: str, number: int) -> str:
    return f"{cell_node}.s{number}"


def retry(sub_call_node: str) -> str:
    return f"{sub_call_node}.retry"


@dataclass(frozen=True)
class Segment:
    kind: str  # t | i | c | s | k | best | retry
    number: int  # 0 for best

    def label(self) -> str:
        return {
            "t": f"turn {self.number}",
            "i": f"iteration {self.number}",
            "c": f"cell {self.number}",
            "s": f"sub-call {self.number}",
            "k": f"compaction {self.number}",
        }.get(self.kind, "best answer" if self.kind == "best" else "retry")


# which segment may follow which: a turn or a sub-call holds iterations (and a best answer, and
# compactions), an iteration holds cells, a cell holds sub-calls
_NEXT = {
    "t": {"i", "best", "k"},
    "i": {"c"},
    "c": {"s"},
    "s": {"i", "best", "k", "retry"},
    "retry": {"i", "best", "k"},
    "best": set(),
    "k": set(),
}


def parse(node_id: str) -> tuple[Segment, ...]:
    """The segments of an id; ``ValueError`` for an id outside the grammar."""
    segments: list[Segment] = []
    for part in node_id.split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise ValueError(f"not a node id: {node_id!r}")
        segment = Segment(match.group(1) or part, int(match.group(2) or 0))
        if (segments and segment.kind not in _NEXT[segments[-1].kind]) or (
            not segments and segment.kind != "t"
        ):
            raise ValueError(f"not a node id: {node_id!r}")
        segments.append(segment)
    return tuple(segments)


def folder_name(node_id: str) -> str:
    """A node as a file name (a child RLM's working folder)."""
    return node_id.replace(".", "_")


def turn_of(node_id: str) -> int | None:
    """The turn a node belongs to (None for ids outside a turn's tree, such as ``resume``)."""
    try:
        return parse(node_id)[0].number
    except ValueError:
        return None


def last_label(node_id: str) -> str:
    """How the last segment reads: "iteration 2", "cell 1", "best answer"."""
    try:
        return parse(node_id)[-1].label()
    except ValueError:
        return node_id


def within(node_id: str, ancestor: str) -> bool:
    """The node is the ancestor or below it."""
    return node_id == ancestor or node_id.startswith(ancestor + ".")
