"""What a Pilot-driven app shows, as plain text lines: for tests that check what a user reads
(a title shown literally, a column not cut to "…"), not how a widget stores it."""

from __future__ import annotations

from textual.app import App
from textual.widget import Widget


def screen_lines(app: App) -> list[str]:
    """The current screen (with any modal over it) as the terminal shows it, one string a row."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


def screen_text(app: App) -> str:
    return "\n".join(screen_lines(app))


def region_lines(app: App, widget: Widget) -> list[str]:
    """The part of the screen a widget covers (what is drawn there, overlays included)."""
    region = widget.region
    return [line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom]]
