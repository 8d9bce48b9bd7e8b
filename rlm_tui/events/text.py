"""Text that can always be written out: no lone surrogates.

A Python string may hold a lone surrogate (``'\\ud800'``): a model's reply can carry one, JSON's
``\\ud800`` escape makes one, and so can ``os.fsdecode`` of bad bytes. Such a string cannot be
encoded to UTF-8, so the database, an export or the terminal would fail on it, losing an answer.
Everything that enters the engine from a model, from model-run code or from the user passes
through ``utf8_safe`` once: a surrogate pair written as two halves becomes its character, and
each lone half becomes U+FFFD (the replacement character), the same as a UTF-8 decoder with
``errors="replace"`` would give.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def utf8_safe(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates replaced; unchanged (the same
    object) when it has none, which is the fast, common case."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def answer_markdown(answer: str) -> str:
    """An answer as Markdown, the same in the app and the export: one that is JSON (a FINAL_VAR of
    a dict or list) in a ```json fence, a Python dict or list (its repr) in a ```python one."""
    import ast
    import json

    text = answer.strip()
    if text[:1] in "{[" and text[-1:] in "}]":
        try:
            json.loads(text)
        except ValueError:
            try:
                ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return answer
            return f"```python\n{text}\n```"
        return f"```json\n{text}\n```"
    return answer
