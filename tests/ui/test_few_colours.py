"""A 256-colour terminal gets themes whose surfaces are greys of the same lightness: tinted dark
surfaces would otherwise land on the palette's saturated navy and teal (as seen in tmux with
TERM=xterm-256color), while a 24-bit terminal keeps the themes as written."""

from __future__ import annotations

import pytest
from textual.color import Color

from rlm_tui.ui import themes
from tests.ui.conftest import make_app, wait_for


@pytest.mark.parametrize(
    ("env", "few"),
    [
        ({"TERM": "xterm-256color"}, True),
        ({"TERM": "screen-256color", "COLORTERM": ""}, True),
        ({"TERM": "xterm-256color", "COLORTERM": "truecolor"}, False),
        ({"TERM": "xterm-kitty", "COLORTERM": "24bit"}, False),
        ({"TERM": "xterm-kitty"}, False),
    ],
)
def test_which_terminals_count_as_few_colours(env, few):
    assert themes.few_colours(env) is few


def test_every_shipped_theme_keeps_its_lightness_and_accents_with_grey_surfaces():
    full, _ = themes.load_all()
    few, _ = themes.load_all(few=True)
    assert [s.theme.name for s in full] == [s.theme.name for s in few]
    for written, grey in zip(full, few, strict=True):
        for key in themes.SURFACES:
            before, after = getattr(written.theme, key), getattr(grey.theme, key)
            if before is None:
                continue
            _, saturation, lightness = Color.parse(after).hsl
            assert saturation == 0, (written.theme.name, key, after)
            assert abs(lightness - Color.parse(before).hsl[2]) < 0.01
        assert grey.theme.primary == written.theme.primary and grey.syntax == written.syntax


async def test_the_app_draws_with_grey_surfaces_when_asked(home):
    app = make_app(few_colours=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(app.startup_done.is_set, pilot)
        background = app.current_theme.background
        assert Color.parse(background).hsl[1] == 0  # rlm-dark's #1a1b26 as a grey
