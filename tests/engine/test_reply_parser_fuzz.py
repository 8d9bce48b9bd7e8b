"""Property-based fuzzing of the reply parser (``engine.replies``), issue 12.

A model's reply is untrusted text: whatever it holds (backtick runs, fences inside fences,
unbalanced FINAL( lines, lone surrogates, long floods), reading it must not raise, must not hang,
must give the same answer twice, and may only hand back code that the reply really contains.
The generators are biased towards the fragments the parser reacts to, so short inputs already
reach its corners.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlm_tui.engine.replies import code_blocks, text_final, unrun_code

FRAGMENTS = [
    "```", "````", "```repl", "```python", "```py\n", "```repl\n", "``` repl \n", "```\n", "\n```\n",
    "\n", "\r\n", "\r", " ", "\t", "FINAL(", "FINAL_VAR(", ")", "(", "[", "]", "{", "}", "'", '"',
    '"""', "'''", "\\", "x = 1\n", "print(x)\n", "answer", "\ud800", "\udfff", "é", "😀", "\u2028",
]  # fmt: skip
ANY_CHAR = st.characters(exclude_categories=())  # surrogates included
PROSE = st.text(st.characters(exclude_characters="`\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=40)
REPLIES = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(ANY_CHAR, max_size=12)), max_size=40).map(
    "".join
)
FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def _parse(reply: str) -> tuple:
    final = text_final(reply)
    if final is not None:  # the helpers a caller uses on it must not raise either
        final.literal()
        final.variable_name()
    return code_blocks(reply), final, unrun_code(reply)


@FUZZ
@given(REPLIES)
def test_any_reply_parses_without_error_and_the_same_way_twice(reply):
    blocks, final, unrun = _parse(reply)
    assert _parse(reply) == (blocks, final, unrun)
    assert all(isinstance(b, str) and b.strip() and b.endswith("\n") for b in blocks)
    assert final is None or final.kind in ("FINAL", "FINAL_VAR")
    assert unrun is None or isinstance(unrun, str)


@FUZZ
@given(REPLIES)
def test_code_blocks_are_pieces_of_the_reply(reply):
    for block in code_blocks(reply):
        assert block.rstrip("\n") in reply


@FUZZ
@given(st.text(ANY_CHAR, max_size=200))
def test_arbitrary_unicode_parses(reply):
    blocks, _, _ = _parse(reply)
    assert all(b.rstrip("\n") in reply for b in blocks)


@FUZZ
@given(
    before=PROSE,
    after=PROSE,
    code=st.text(st.characters(exclude_characters="`"), min_size=1, max_size=80).filter(str.strip),
    tag=st.sampled_from(["repl", "python", "py", "python3"]),
)
def test_a_well_formed_block_anywhere_in_prose_is_found_whole(before, after, code, tag):
    reply = f"{before}\n```{tag}\n{code}\n```\n{after}"
    assert code_blocks(reply) == [code.rstrip("\n") + "\n"]


@FUZZ
@given(before=PROSE, after=PROSE, code=st.text(st.characters(exclude_characters="`"), max_size=40))
def test_a_final_inside_a_code_block_is_not_a_written_final(before, after, code):
    reply = f"{before.replace('FINAL', 'final')}\n```repl\n{code}\nFINAL(x)\n```\n{after.replace('FINAL', 'final')}"
    assert text_final(reply) is None


@FUZZ
@given(
    before=PROSE,
    answer=st.text(
        st.characters(exclude_characters="()[]{}'\"\\\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029`"), max_size=60
    ).filter(str.strip),
    after=PROSE,
)
def test_a_written_final_line_gives_its_argument(before, answer, after):
    reply = f"{before.replace('FINAL', 'final')}\nFINAL({answer})\n{after}"
    final = text_final(reply)
    assert final is not None and final.kind == "FINAL" and final.argument == answer.strip()


@pytest.mark.parametrize(
    "unit",
    ["```x\n", "```repl\n", "```\n", "FINAL(", "(", "'", "`", "\n", "a = (\n", "```repl\nprint(1)\n```\n",
     "word\n", "x = 1\n"],
)  # fmt: skip
@pytest.mark.parametrize("ending", ["", "```\n"])
def test_a_long_flood_of_one_fragment_parses_quickly(unit, ending):
    # A reply of 10,000 unclosed fences (50 kB) once took 10 s, 40,000 of them minutes: every fence
    # was tried as an opening up to the end of the reply. A lone closing fence at the end makes the
    # parser look for the code above it: that once parsed every tail of the reply (85 s for 5,000
    # lines of prose).
    reply = unit * 40_000 + ending
    started = time.perf_counter()
    blocks, _, _ = _parse(reply)
    assert time.perf_counter() - started < 2.0
    assert all(b.rstrip("\n") in reply for b in blocks)
