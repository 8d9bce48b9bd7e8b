"""Where settings come from: the TOML file, ``RLM_*`` environment variables and command-line flags,
each a pydantic-settings source that also knows where each of its values came from, for
``rlm config`` and for messages. A layer's values are validated on their own, so a bad value is
reported as one line naming its file and line, its variable or its flag; pydantic's own text is
never shown.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource

from rlm_tui.errors import ConfigError


class _Layer:
    """What the three sources share: where a value came from, and their values validated."""

    settings_cls: type[BaseSettings]

    def where(self, name: str) -> str:
        """Where ``name``'s value came from, to start a message."""
        raise NotImplementedError

    def origin(self, name: str) -> str:
        """Where ``name``'s value came from, for ``Config.sources``."""
        raise NotImplementedError

    def rank(self, name: str) -> int:
        """Of several bad values, the one of lowest rank is reported (the first in the file)."""
        return 0

    def checked(self) -> dict[str, Any]:
        """This layer's settings, validated: {name: value}. A bad one raises ConfigError."""
        given: dict[str, Any] = self()  # type: ignore[operator]
        try:
            valid = self.settings_cls(**given)
        except ValidationError as exc:
            error = min(exc.errors(), key=lambda failure: self.rank(str(failure["loc"][0])))
            name = str(error["loc"][0])
            raise ConfigError(f"{self.where(name)}: {problem(self.settings_cls, name, error)}") from None
        return {name: getattr(valid, name) for name in given}


class TomlFile(_Layer, InitSettingsSource):
    """The config file. Every setting is a flat key; a ``[section]`` only groups keys (the same
    key in two sections: the later line wins)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        self.lines: dict[str, int | None] = {}
        super().__init__(settings_cls, self._read(settings_cls))

    def where(self, name: str) -> str:
        line = self.lines.get(name)
        return f"{self.path}, line {line}" if line else str(self.path)

    def rank(self, name: str) -> int:
        return self.lines.get(name) or 0

    def origin(self, name: str) -> str:
        line = self.lines.get(name)
        return f"file {self.path}" + (f":{line}" if line else "")

    def _read(self, settings_cls: type[BaseSettings]) -> dict[str, Any]:
        path = self.path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: not a text file (byte {data[exc.start]:#04x} at offset {exc.start} is not UTF-8)"
            ) from None
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {' '.join(str(exc).split())}") from None
        lines = key_lines(text)
        found: list[tuple[int, str, Any]] = []
        for key, value in table.items():
            group = (key,) if isinstance(value, dict) else ()
            for name, item in value.items() if group else [(key, value)]:
                found.append((_line(lines, (*group, name)) or 0, name, item))
        found.sort(key=lambda entry: entry[0])
        values: dict[str, Any] = {}
        for line, name, item in found:
            self.lines[name] = line or None
            if name not in settings_cls.model_fields:
                known = ", ".join(sorted(settings_cls.model_fields))
                raise ConfigError(f"{self.where(name)}: unknown setting {name!r} (known: {known})")
            values[name] = item
        return values


class Environment(_Layer, EnvSettingsSource):
    """``RLM_MAX_DEPTH`` and the like, from ``environ`` (not necessarily ``os.environ``)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Names are matched in lower case; only the upper-case spelling counts, as POSIX names are
        # case-sensitive and the source must name the variable that was set.
        return {name.lower(): value for name, value in self._environ.items() if name.isupper()}

    def variable(self, name: str) -> str:
        return f"{self.settings_cls.model_config.get('env_prefix', '')}{name}".upper()

    def where(self, name: str) -> str:
        return f"environment variable {self.variable(name)}"

    def origin(self, name: str) -> str:
        return f"env {self.variable(name)}"


class Flags(_Layer, InitSettingsSource):
    """Command-line values (None: the flag was not given); ``names`` maps a setting to its flag."""

    def __init__(
        self, settings_cls: type[BaseSettings], flags: Mapping[str, Any], names: Mapping[str, str]
    ) -> None:
        self.names = names
        super().__init__(settings_cls, {name: value for name, value in flags.items() if value is not None})

    def where(self, name: str) -> str:
        return self.names.get(name, "--" + name.replace("_", "-"))

    def origin(self, name: str) -> str:
        return "flag"


def problem(settings_cls: type[BaseSettings], name: str, error: ErrorDetails) -> str:
    """One of pydantic's errors in our words: what ``name`` must be, and what it was."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error["input"]
    if kind == "extra_forbidden":
        return f"unknown setting {name!r} (known: {', '.join(sorted(settings_cls.model_fields))})"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    if kind == "greater_than_equal":
        need = f"at least {ctx['ge']:g}"
    elif kind == "greater_than":
        need = f"more than {ctx['gt']:g}"
    elif kind == "finite_number":
        need = "a finite number"
    elif kind == "literal_error":
        need = "one of " + ", ".join(map(str, get_args(settings_cls.model_fields[name].annotation)))
    elif kind.startswith("int_"):
        need = "a whole number"
    elif kind.startswith("float_"):
        need = "a number"
    elif kind.startswith("string_"):
        need = "text"
    else:
        return f"{name} cannot be {given!r}"
    return f"{name} must be {need}, not {given!r}"


# Finding a key's line in a TOML text: tomllib gives no positions.

_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""  # bare, "basic" or 'literal'
_DOTTED = rf"{_KEY}(?:[ \t]*\.[ \t]*{_KEY})*"
_HEADER = re.compile(rf"[ \t]*\[\[?[ \t]*({_DOTTED})[ \t]*\]")
_ASSIGNMENT = re.compile(rf"[ \t]*({_DOTTED})[ \t]*=")


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of every table header and key of a valid TOML text, by full path: ``max_depth``
    under ``[limits]`` (or ``limits.max_depth = 3``) is ``("limits", "max_depth")``. Lines inside a
    multi-line array or string are values, never headers or keys. Keys inside an inline table are
    not listed: ``_line`` falls back to the table's own line."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    closing: str | None = None  # the closing quotes of a multi-line string still open
    depth = 0  # brackets and braces of a value still open
    for number, line in enumerate(text.split("\n"), 1):
        start = 0
        if closing is None and depth == 0:  # a new statement, if anything
            if header := _HEADER.match(line):
                table = _key_path(header.group(1))
                found.setdefault(table, number)
                continue
            if not (assignment := _ASSIGNMENT.match(line)):
                continue  # blank, or a comment
            found.setdefault((*table, *_key_path(assignment.group(1))), number)
            start = assignment.end()
        closing, depth = _scan_value(line, start, closing, depth)
    return found


def _line(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _key_path(key: str) -> tuple[str, ...]:
    """A dotted TOML key's parts as tomllib reads them (quotes and escapes undone)."""
    table: Any = tomllib.loads(f"{key} = 0")
    path = []
    while isinstance(table, dict):
        ((name, table),) = table.items()
        path.append(name)
    return tuple(path)


def _scan_value(line: str, i: int, closing: str | None, depth: int) -> tuple[str | None, int]:
    """Carry a value's state across ``line`` from column ``i``: the closing quotes of a multi-line
    string still open (or None), and how many brackets and braces are open."""
    while i < len(line):
        if closing is not None:
            end = _string_end(line, i, closing)
            if end is None:
                return closing, depth
            i, closing = end, None
            continue
        char = line[i]
        if char == "#":
            break
        if char in "\"'":
            if line.startswith(char * 3, i):
                i, closing = i + 3, char * 3
            else:  # a one-line string ends on its line
                i = _string_end(line, i + 1, char) or len(line)
            continue
        depth += (char in "[{") - (char in "]}")
        i += 1
    return closing, depth


def _string_end(line: str, i: int, quotes: str) -> int | None:
    """The column just past the closing ``quotes`` of a string, looking from column ``i``."""
    while i < len(line):
        if line[i] == "\\" and quotes[0] == '"':
            i += 2  # an escape, perhaps of a quote
        elif line.startswith(quotes, i):
            end = i + len(quotes)
            while len(quotes) == 3 and end < i + 5 and line.startswith(quotes[0], end):
                end += 1  # """a"""" is the text a": up to two quotes end the content
            return end
        else:
            i += 1
    return None
