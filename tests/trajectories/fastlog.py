"""Writing small fast-rlm JSONL logs, in the format fast-rlm writes and ``fast_rlm.load`` reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# fast-rlm's automatic first cell, run in every run (root and sub-agents) before the model's cells
FIRST_CELL = """
print("Context type: ", type(context))
print(f"Context length: {len(context) if hasattr(context, '__len__') else 'N/A'}")

if len(context) > 500:
    print(f"First 500 characters of str(context): ", str(context)[:500])
    print("---")
    print(f"Last 500 characters of str(context): ", str(context)[-500:])
else:
    print(f"Context: ", context)
"""


def first_output(context: str) -> str:
    """What fast-rlm logs for the first cell: its stdout, trimmed."""
    text = f"Context type:  <class 'str'>\nContext length: {len(context)}\n"
    if len(context) > 500:
        text += f"First 500 characters of str(context):  {context[:500]}\n---\n"
        text += f"Last 500 characters of str(context):  {context[-500:]}\n"
    else:
        text += f"Context:  {context}\n"
    return text.strip()


def full(stdout: str) -> str:
    return "[FULL OUTPUT SHOWN]... " + stdout if stdout else "[EMPTY OUTPUT]"


def truncated(text: str, keep: int) -> str:
    return f"[TRUNCATED: Last {keep} chars shown].. " + text[-keep:]


def pyodide_error(exception: str, line: int) -> str:
    """What fast-rlm appends to a cell's stdout when the cell raised (Pyodide's traceback)."""
    return (
        "\nError: Traceback (most recent call last):\n"
        '  File "/lib/python313.zip/_pyodide/_base.py", line 597, in eval_code_async\n'
        "    await CodeRunner(\n"
        "    ...<9 lines>...\n"
        "    .run_async(globals, locals)\n"
        '  File "/lib/python313.zip/_pyodide/_base.py", line 411, in run_async\n'
        "    coroutine = eval(self.code, globals, locals)\n"
        f'  File "<exec>", line {line}, in <module>\n'
        f"{exception}\n "
    )


class FastLog:
    """One log: runs are added in the order their lines appear."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def _line(self, run_id: str, depth: int, parent: str | None, **fields: Any) -> None:
        rec: dict[str, Any] = {
            "level": 30,
            "time": "2026-02-22T14:56:34.866Z",
            "run_id": run_id,
            "depth": depth,
        }
        if parent is not None:
            rec["parent_run_id"] = parent
        self.records.append({**rec, **fields})

    def start(self, run_id: str, context: str, *, depth: int = 0, parent: str | None = None) -> None:
        out = first_output(context)
        self._line(
            run_id,
            depth,
            parent,
            step=0,
            event_type="execution_result",
            code=FIRST_CELL,
            output=out,
            hasError=False,
        )

    def cell(
        self, run_id: str, step: int, code: str, output: str, *, depth: int = 0, parent: str | None = None
    ) -> None:
        self._line(
            run_id,
            depth,
            parent,
            step=step,
            event_type="execution_result",
            code=code,
            output=output,
            hasError="Error" in output,
        )

    def final(
        self, run_id: str, step: int, code: str, result: Any, *, depth: int = 0, parent: str | None = None
    ) -> None:
        self._line(run_id, depth, parent, step=step, event_type="code_generated", code=code)
        self._line(run_id, depth, parent, event_type="final_result", result=result)

    def write(self, path: Path) -> Path:
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records), encoding="utf-8"
        )
        return path


def one_cell_log(path: Path, code: str, output: str, *, context: str = "ctx") -> Path:
    log = FastLog()
    log.start("root", context)
    log.cell("root", 1, code, output)
    return log.write(path)
