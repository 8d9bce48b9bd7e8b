"""Reading a model's reply: the code blocks to run and a FINAL written as text."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

_FENCE = re.compile(
    r"^[ \t]*```[ \t]*(repl|python|py|python3)[ \t]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.M | re.S
)
_TEXT_FINAL = re.compile(r"^[ \t]*(FINAL_VAR|FINAL)\(", re.M)


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


def _closing_paren(text: str, start: int) -> int | None:
    """Index of the parenthesis closing the one before ``start``; None if none.

    Quotes delimit strings only when the argument looks like a literal (it starts with a quote
    or a bracket): in prose an apostrophe ("the user's") is just a letter.
    """
    literal = text[start:].lstrip()[:1] in ("'", '"', "{", "[", "(")
    depth, quote, i = 1, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif literal and ch in "\"'":
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else ch
            i += len(quote) - 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def text_final(reply: str) -> TextFinal | None:
    """A line ``FINAL(...)`` / ``FINAL_VAR(...)`` outside code blocks, if the reply has one.

    The argument runs to the matching parenthesis (it may span lines); text after it is not
    part of the answer. An unclosed FINAL( takes the rest of its line.
    """
    text = _outside_code(reply)
    match = _TEXT_FINAL.search(text)
    if match is None:
        return None
    end = _closing_paren(text, match.end())
    if end is None:
        line_end = text.find("\n", match.end())
        argument = text[match.end() : line_end if line_end != -1 else len(text)].rstrip().removesuffix(")")
    else:
        argument = text[match.end() : end]
    return TextFinal(match.group(1), argument.strip())


_FENCE_LINE = re.compile(r"[ \t]*```[ \t]*([\w+-]*)")  # any fence line, and its language tag
_BARE_FENCE = re.compile(r"[ \t]*```[ \t]*")  # a line that closes a fence
_SCAN_LINES = 200  # how far above a lone closing fence the code it closes is looked for
_SCAN_CHARS = 20_000
_RUNS = {"repl", "python", "py", "python3"}
_CODE_NODES = (ast.Assign, ast.AugAssign, ast.Import, ast.ImportFrom, ast.For, ast.While, ast.If,
               ast.FunctionDef, ast.AsyncFunctionDef, ast.With, ast.Try, ast.Call, ast.Await)  # fmt: skip


def _looks_like_python(code: str) -> bool:
    """Code a model meant to run: it parses, and does something (an assignment, a call, an import,
    a loop), not just a name or a sentence that happens to parse."""
    if not code.strip():
        return False
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return any(isinstance(node, _CODE_NODES) for node in ast.walk(tree))


def _fenced(reply: str) -> Iterator[tuple[str, str]]:
    """(language tag, body) of each fenced block, in one pass: a line starting with ``` opens a
    block, the next bare ``` line closes it. (A regular expression doing the same tried every
    fence as an opening up to the end of the reply: quadratic on a reply of unclosed fences.)"""
    lines = reply.split("\n")
    opening: tuple[int, str] | None = None
    for i, line in enumerate(lines):
        if opening is None:
            match = _FENCE_LINE.match(line)
            if match is not None and i < len(lines) - 1:  # an opening fence ends its line
                opening = (i, match.group(1))
        elif _BARE_FENCE.fullmatch(line):
            start, tag = opening
            yield tag, "".join(body + "\n" for body in lines[start + 1 : i])
            opening = None


def _code_above(lines: list[str]) -> str | None:
    """The code that ends just above a closing fence whose opening is missing: the longest run of
    last lines that reads as code (prose may come first). Only the last lines are tried, so a
    long reply costs a bounded number of parses."""
    start_at, chars = len(lines), 0
    while start_at > 0 and len(lines) - start_at < _SCAN_LINES and chars < _SCAN_CHARS:
        start_at -= 1
        chars += len(lines[start_at]) + 1
    for start in range(start_at, len(lines)):
        code = "\n".join(lines[start:])
        if _looks_like_python(code):
            return code
    return None


def unrun_code(reply: str) -> str | None:
    """Code in a reply that will not run: in a fence without ``repl`` (no language, or another
    one), or above a closing fence that has no opening one. Returns the code, or None."""
    for tag, body in _fenced(reply):
        if tag.lower() not in _RUNS and _looks_like_python(body):
            return body
    lines = reply.splitlines()
    fences = [i for i, line in enumerate(lines) if line.strip().startswith("```")]
    if fences and lines[fences[0]].strip() == "```":  # the first fence closes: its opening is missing
        return _code_above(lines[: fences[0]])
    return None
