"""How a recorded session's facts read in either front end: a time, a text clipped to a line."""

from __future__ import annotations

from datetime import datetime


def when(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"


def clip(text: str, n: int) -> str:
    """The text on one line, at most ``n`` characters (an ellipsis says it was cut)."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the word, singular for one: "1 turn", "3 turns"."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def tokens(n: int, estimated: bool = False) -> str:
    """A token count short enough for a status line: "950 tok", "12.4k tok", "1.2M tok".

    "~" marks one counted by us because the provider reported none."""
    mark = "~" if estimated else ""
    if n >= 999_950:
        return f"{mark}{n / 1_000_000:.1f}M tok"
    if n >= 1000:
        return f"{mark}{n / 1000:.1f}k tok"
    return f"{mark}{n} tok"


def money(value: float | None, known: bool = True) -> str:
    """A cost: "$0.0123"; "+?" when some calls have no known price; "$?" when none has."""
    if value is None or (not known and not value):
        return "$?"
    return f"${value:.4f}" + ("" if known else "+?")


SIZE_UNITS = {"str": "chars", "BigText": "chars", "bytes": "bytes", "Table": "bytes",
              "ParquetTable": "rows", "PdfText": "pages", "dict": "files"}  # fmt: skip


def size_unit(type_name: str) -> str:
    """What an attached file's size counts, by what it was loaded as (a table's rows are
    counted only when asked: its size is its bytes)."""
    return SIZE_UNITS.get(type_name, "items")


def read_so_far(progress: tuple[int, int] | None) -> str:
    """``37%`` of a file being attached, or "" when unknown."""
    if not progress or progress[1] <= 0:
        return ""
    done, total = progress
    return f"{min(100, done * 100 // total)}%"


def file_size(size: int) -> str:
    """``1.2 KB``, ``3.0 GB``: a file's size for people (the app's chips, rlm ask's progress)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
