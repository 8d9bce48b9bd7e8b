"""How a recorded session's facts read in either front end: a time, a text clipped to a line."""

from __future__ import annotations

from datetime import datetime


def when(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"


def clip(text: str, n: int) -> str:
    """The text on one line, at most ``n`` characters (an ellipsis says it was cut)."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
