"""The table of REPL variables: what the root prompt and SHOW_VARS() show the model.

One row per variable: name, type, size, and a preview of at most ~200 characters. Previews come
from reprlib, so a list of a million items or a 2 GB string costs the same as a small one.
"""

from __future__ import annotations

import reprlib
import types
from typing import Any

PREVIEW_CHARS = 200
TABLE_ROWS = 40  # in the prompt; SHOW_VARS() shows every row
FIRST = ("context", "files", "history", "memory")


class _SafeRepr(reprlib.Repr):
    """reprlib that never runs the __repr__ of a class defined in a cell (it could hang or fail)."""

    def repr_instance(self, obj: Any, level: int) -> str:
        if type(obj).__module__ == "__main__":
            return f"<{type(obj).__name__} object>"
        return super().repr_instance(obj, level)


_repr = _SafeRepr()
_repr.maxstring = PREVIEW_CHARS
_repr.maxother = PREVIEW_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 8
_repr.maxlevel = 2


def _count(n: int, unit: str) -> str:
    return f"{n:,} {unit}" + ("" if n == 1 else "s")


def _size(value: Any) -> str:
    from rlm_tui.sandbox.worker.bigtext import BigText
    from rlm_tui.sandbox.worker.parquet import ParquetTable
    from rlm_tui.sandbox.worker.pdftext import PdfText
    from rlm_tui.sandbox.worker.tables import Table

    if isinstance(value, Table):  # its rows are counted only when the code asks
        return _count(value.nbytes, "byte")
    if isinstance(value, ParquetTable):  # the file's metadata holds the row count
        return _count(len(value), "row")
    if isinstance(value, PdfText):
        return _count(len(value), "page")
    if isinstance(value, (str, BigText)):
        return _count(len(value), "char")
    if isinstance(value, (bytes, bytearray)):
        return _count(len(value), "byte")
    if isinstance(value, dict):
        return _count(len(value), "key")
    try:
        return _count(len(value), "item")
    except Exception:
        return ""


def _preview(value: Any) -> str:
    if isinstance(value, str):
        text = value[:PREVIEW_CHARS].replace("\n", "\\n")
        return text + ("…" if len(value) > PREVIEW_CHARS else "")
    if isinstance(value, types.FunctionType):
        return f"def {value.__name__}{_signature(value)}"
    try:
        text = _repr.repr(value)
    except Exception as exc:
        text = f"<unprintable: {type(exc).__name__}>"
    text = text.replace("\n", "\\n")
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _signature(func: types.FunctionType) -> str:
    import inspect

    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return "(...)"


def describe_history(history: Any) -> str:
    """History is described, never previewed: earlier turns' text must not re-enter the prompt."""
    if not isinstance(history, list) or not history:
        return "no earlier turns"
    turns = [m.get("turn") for m in history if isinstance(m, dict) and m.get("turn") is not None]
    if not turns:
        span = "earlier turns"
    elif min(turns) == max(turns):
        span = f"turn {min(turns)}"
    else:
        span = f"turns {min(turns)}–{max(turns)}"
    return f"{_count(len(history), 'message')} from {span}; read history[-2:] for the latest exchange"


def rows(
    globals_: dict[str, Any], hidden: set[str], descriptions: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """One row per variable. ``descriptions`` replace previews of the host's data (files, context):
    their content reaches the model only through what its code prints."""
    descriptions = dict(descriptions or {})
    descriptions["history"] = describe_history(globals_.get("history"))
    names = [n for n in globals_ if not n.startswith("_") and n not in hidden]
    names = [n for n in names if not isinstance(globals_[n], types.ModuleType)]
    ordered = [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]
    out = []
    for name in ordered:
        value = globals_[name]
        if (name == "context" and value is None) or (name == "files" and not value):
            continue
        preview = descriptions[name] if name in descriptions else _preview(value)
        out.append({"name": name, "type": type(value).__name__, "size": _size(value), "preview": preview})
    return out


def format_table(table: list[dict[str, str]], max_rows: int | None = TABLE_ROWS) -> str:
    if not table:
        return "(no variables yet)"
    shown = table
    more = 0
    if max_rows is not None and len(table) > max_rows:
        keep_head = sum(1 for r in table if r["name"] in FIRST)
        shown = table[:keep_head] + table[len(table) - (max_rows - keep_head) :]
        more = len(table) - len(shown)
    lines = ["| name | type | size | preview |", "|---|---|---|---|"]
    for r in shown:
        preview = r["preview"].replace("|", "\\|")
        lines.append(f"| {r['name']} | {r['type']} | {r['size']} | {preview} |")
    if more:
        lines.append(f"({more} older variables not shown; SHOW_VARS() lists them all)")
    return "\n".join(lines)
