"""What the model sees of a cell's output: head and tail, with a marker for the cut."""

from __future__ import annotations


def cut_marker(cut: int) -> str:
    return f"\n[... {cut:,} characters cut ...]\n"


def truncate_for_model(text: str, limit: int, dropped: int = 0) -> tuple[str, bool]:
    """Return (text the model sees, whether anything was cut).

    ``limit`` counts the characters of output shown (head + tail); the marker comes on top.
    ``dropped`` is what the worker did not even capture (past the hard cap).
    """
    truncated = False
    if len(text) > limit:
        head = limit // 2
        tail = limit - head
        text = text[:head] + cut_marker(len(text) - limit) + (text[-tail:] if tail else "")
        truncated = True
    if dropped:
        text += f"\n[output capped: {dropped:,} more characters were not captured]"
        truncated = True
    return text, truncated
