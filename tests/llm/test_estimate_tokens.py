"""The token estimate behind the context-window check of sub-calls."""

from __future__ import annotations

from rlm_tui.llm.base import estimate_tokens


def test_ascii_text_is_about_four_characters_a_token():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 1000) == 1000
    assert estimate_tokens("abcde") == 2  # rounded up: generous, never short


def test_cjk_text_is_about_a_token_a_character():
    assert estimate_tokens("这是一个很长的中文句子" * 100) == 1100
    assert estimate_tokens("日本語のテキスト") == 8


def test_mixed_text_counts_each_part_its_own_way():
    assert estimate_tokens("word " * 200 + "漢字" * 50) == 250 + 100
    assert estimate_tokens("café") == 1 + 1  # "caf" rounds up to one token, "é" is one
