"""Model text made safe to print: terminal control sequences shown, never executed.

A model can be steered by what it reads, and its answers reach the user's terminal through
``rlm ask`` and ``rlm sessions show/export``. Raw, an ESC in them could write the clipboard (OSC
52), retitle the window, clear the screen or redraw earlier lines; a carriage return or a
backspace could hide text. ``visible`` keeps newlines and tabs and shows every other C0 control,
DEL, each C1 control and the bidirectional overrides as a symbol or an escape the eye can read
(ESC becomes ``␛``, U+009B becomes ``\\x9b``). A lone surrogate, which no terminal encoding can
carry, becomes U+FFFD. ``json_safe`` does the same for JSON lines, as ``\\uXXXX`` escapes, so the
data is kept exactly and ``cat``-ing an export is harmless.
"""

from __future__ import annotations

_KEPT = {ord("\n"), ord("\t")}
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]  # embeddings, overrides, isolates
_SURROGATES = range(0xD800, 0xE000)


def _visible_table() -> dict[int, str]:
    table: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c not in _KEPT}  # ␀ … ␟
    table[0x7F] = "\u2421"  # ␡
    table.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
    table.update({c: f"\\u{c:04x}" for c in _BIDI})
    table.update({c: "\ufffd" for c in _SURROGATES})
    return table


def _json_table() -> dict[int, str]:
    """Characters ``json.dumps(ensure_ascii=False)`` leaves raw that a terminal would act on."""
    codes = [0x7F, *range(0x80, 0xA0), *_BIDI, *_SURROGATES]
    return {c: f"\\u{c:04x}" for c in codes}


_VISIBLE = _visible_table()
_JSON = _json_table()


def visible(text: str) -> str:
    """The text with every control but newline and tab shown instead of acted on; a Windows line
    end (CR LF) is a line end."""
    return text.replace("\r\n", "\n").translate(_VISIBLE)


def json_safe(line: str) -> str:
    """A JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the controls JSON leaves raw
    escaped; still the same JSON. Those characters can only occur inside strings, where an escape
    means the same character."""
    return line.translate(_JSON)
