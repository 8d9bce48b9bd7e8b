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
    assert estimate_tokens("café") == 1 + 1  # "caf" rounds up to one token, "é" half of one, rounded up


def test_two_byte_scripts_are_about_two_characters_a_token():
    # not a token a character: a Russian chunk that fits a window must not be refused as too big
    assert estimate_tokens("Привет" * 1000) == 3000
    assert estimate_tokens("Γειά σου " * 100) == 200 // 4 + 700 // 2  # 2 spaces and 7 Greek letters each


def test_megabytes_are_estimated_quickly():
    import time

    text = ("Привет мир, 你好世界 " * 50_000) * 10  # about 9 MB of UTF-8
    started = time.perf_counter()
    estimate_tokens(text)
    assert time.perf_counter() - started < 1.0  # about 30 ms here: it is linear, at C speed
