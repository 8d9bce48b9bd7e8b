"""Theme files: the ones shipped in themes/ and any in the user's config folder (``themes/*.toml``).

A theme file holds Textual theme colours plus ``syntax``, the Pygments style that code cells use,
so highlighting follows the theme. The chosen theme is remembered in the data folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from textual.theme import Theme

from rlm_tui.errors import UsageError

DEFAULT = "rlm-dark"
COLOURS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
    "boost",
)


@dataclass(frozen=True)
class ThemeSpec:
    theme: Theme
    syntax: str
    source: str


class ThemeFileError(UsageError):
    """A theme file that cannot be used; the app says which and why, and goes on without it."""


def parse(text: str, source: str) -> ThemeSpec:
    from pygments.styles import get_all_styles
    from textual.color import Color, ColorParseError

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{source}: not valid TOML: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(f"{source}: a theme needs a name")
    if "primary" not in data:
        raise ThemeFileError(f"{source}: a theme needs at least a primary colour")
    colours = {}
    for key in COLOURS:
        if key in data:
            try:
                Color.parse(data[key])
            except (ColorParseError, TypeError):
                raise ThemeFileError(f"{source}: {key} = {data[key]!r} is not a colour") from None
            colours[key] = data[key]
    syntax = data.get("syntax", "monokai" if data.get("dark", True) else "default")
    if syntax not in set(get_all_styles()):
        raise ThemeFileError(f"{source}: syntax = {syntax!r} is not a Pygments style")
    theme = Theme(name=name.strip(), dark=bool(data.get("dark", True)), **colours)
    return ThemeSpec(theme, syntax, source)


SURFACES = ("background", "surface", "panel", "boost")


def few_colours(environ: Mapping[str, str] | None = None) -> bool:
    """A terminal of 256 colours (or fewer), not one that takes 24-bit colour."""
    env = os.environ if environ is None else environ
    if env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return False
    return "256" in env.get("TERM", "") or env.get("TERM", "") in ("xterm", "screen", "tmux", "linux")


def for_few_colours(spec: ThemeSpec) -> ThemeSpec:
    """The theme for a 256-colour terminal: its tinted dark or light surfaces would land on the
    palette's saturated navy and teal cubes, so they become greys of the same lightness, which the
    palette's grey ramp holds closely; the accents keep their colours."""
    from dataclasses import replace as replace_field

    from textual.color import Color

    grey = {}
    for key in SURFACES:
        value = getattr(spec.theme, key, None)
        if value:
            h, _, lightness = Color.parse(value).hsl
            grey[key] = Color.from_hsl(h, 0.0, lightness).hex
    return ThemeSpec(replace_field(spec.theme, **grey), spec.syntax, spec.source)


def user_theme_dir() -> Path:
    from rlm_tui.config import config_path

    return config_path().parent / "themes"


def load_all(few: bool = False) -> tuple[list[ThemeSpec], list[str]]:
    """Every theme, shipped ones first; a user file with the same name replaces a shipped one
    (on a 256-colour terminal, ``few``, with grey surfaces: ``for_few_colours``).
    Returns the themes and a message for each file that could not be used."""
    specs: dict[str, ThemeSpec] = {}
    problems: list[str] = []
    shipped = sorted(
        (p for p in resources.files("rlm_tui.themes").iterdir() if p.name.endswith(".toml")),
        key=lambda p: p.name,
    )
    user_dir = user_theme_dir()
    user = sorted(user_dir.glob("*.toml")) if user_dir.is_dir() else []
    for path in [*shipped, *user]:
        try:
            spec = parse(path.read_text(encoding="utf-8"), str(path))
        except (ThemeFileError, OSError) as exc:
            problems.append(str(exc))
            continue
        specs[spec.theme.name] = spec
    if few:
        return [for_few_colours(spec) for spec in specs.values()], problems
    return list(specs.values()), problems


def remember_theme(name: str, configured: str | None) -> None:
    """Remember a theme picked in the app, with the configured one it overrides."""
    from rlm_tui.config import remember

    remember("theme", name)
    remember("theme_configured", configured)
