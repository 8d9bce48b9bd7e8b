"""Reading a model's reply: the code blocks to run and a FINAL written as text."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(
    r"^[ \t]*```[ \t]*(repl|python|py|python3)[ \t]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.M | re.S
)
_TEXT_FINAL = re.compile(r"^[ \t]*(FINAL_VAR|FINAL)\((.*)\)[ \t]*$", re.M | re.S)


def code_blocks(reply: str) -> list[str]:
    """Every ```repl (or ```python) block, in order. A block cut off at the end still counts."""
    blocks = []
    for match in _FENCE.finditer(reply):
        code = match.group(2)
        if code.strip():
            blocks.append(code.rstrip("\n") + "\n")
    return blocks


def _outside_code(reply: str) -> str:
    return _FENCE.sub("", reply)


@dataclass(frozen=True)
class TextFinal:
    kind: str  # FINAL | FINAL_VAR
    argument: str  # as written between the parentheses, stripped

    def literal(self) -> tuple[bool, object]:
        """(True, value) when the argument is a Python literal such as "Blue" or {"a": 1}."""
        try:
            return True, ast.literal_eval(self.argument)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return False, None

    def variable_name(self) -> str | None:
        name = self.argument.strip().strip("'\"")
        return name if name.isidentifier() else None


def text_final(reply: str) -> TextFinal | None:
    """A line ``FINAL(...)`` / ``FINAL_VAR(...)`` outside code blocks, if the reply has one."""
    match = _TEXT_FINAL.search(_outside_code(reply))
    if match is None:
        return None
    return TextFinal(match.group(1), match.group(2).strip())
