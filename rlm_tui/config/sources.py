"""Where settings come from: the TOML file, ``RLM_*`` environment variables and command-line flags,
each a pydantic-settings source that also knows where each of its values came from, for
``rlm config`` and for messages. A layer's values are validated on their own, so a bad value is
reported as one line naming its file and line, its variable or its flag; pydantic's own text is
never shown.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource

from rlm_tui.config.settings import (
    DEPLOYMENTS,
    MODELS,
    DeploymentSettings,
    ModelSettings,
    deployment_key,
    model_key,
)
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
            error = min(exc.errors(), key=lambda failure: self.rank(setting_key(failure["loc"])))
            key = setting_key(error["loc"])
            raise ConfigError(f"{self.where(key)}: {problem(self.settings_cls, key, error)}") from None
        return {name: getattr(valid, name) for name in given}

    def origins(self, name: str, value: Any) -> dict[str, str]:
        """Where ``name``'s value came from, for ``Config.sources``: one entry, or, for the models'
        tables, one for each value in them (``models."openai/x".context_window``)."""
        if name != MODELS:
            return {name: self.origin(name)}
        found = {name: self.origin(name)}
        for model, limits in value.items():
            for field, item in limits:
                if item is not None:
                    found[model_key(model, field)] = self.origin(model_key(model, field))
            for index in range(len(limits.deployments or ())):
                found[deployment_key(model, index)] = self.origin(deployment_key(model, index))
        return found


class TomlFile(_Layer, InitSettingsSource):
    """The config file. Every setting is a flat key; a ``[section]`` only groups keys (the same
    key in two sections: the later line wins). The one exception is a model's own table,
    ``[models."openai/smollm2"]``: a table in ``models`` is that model's limits (a plain key in a
    ``[models]`` section is still a flat setting)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        self.lines: dict[str, int | None] = {}
        super().__init__(settings_cls, self._read(settings_cls))

    def where(self, name: str) -> str:
        line = self._line_of(name)
        return f"{self.path}, line {line}" if line else str(self.path)

    def rank(self, name: str) -> int:
        return self._line_of(name) or 0

    def origin(self, name: str) -> str:
        line = self._line_of(name)
        return f"file {self.path}" + (f":{line}" if line else "")

    def _line_of(self, name: str) -> int | None:
        """The line of ``name``, or of the deployment it is in (``...deployments[1].rpm``: the
        line of that deployment's table)."""
        line = self.lines.get(name)
        if line is None and "]." in name:
            line = self.lines.get(name.rsplit(".", 1)[0])
        return line

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
        self._text = text
        found: list[tuple[int, str, Any]] = []
        models: dict[str, Any] = {}
        for key, value in table.items():
            group = (key,) if isinstance(value, dict) else ()
            for name, item in value.items() if group else [(key, value)]:
                if group == (MODELS,) and isinstance(item, dict):
                    models[name] = item
                    self._model_lines(lines, name, item)
                    continue
                found.append((_line(lines, (*group, name)) or 0, name, item))
        found.sort(key=lambda entry: entry[0])
        values: dict[str, Any] = {}
        for line, name, item in found:
            self.lines[name] = line or None
            if name not in settings_cls.model_fields:
                known = ", ".join(sorted(settings_cls.model_fields))
                raise ConfigError(f"{self.where(name)}: unknown setting {name!r} (known: {known})")
            if name == MODELS and models:
                raise ConfigError(
                    f'{self.where(name)}: models is given twice; keep the [models."..."] tables'
                )
            values[name] = item
        if models:
            self.lines[MODELS] = self._first_model_line()
            values[MODELS] = models
        return values

    def _model_lines(self, lines: dict[tuple[str, ...], int], model: str, table: dict[str, Any]) -> None:
        """The lines of a model's table and of each key in it (a key of an inline table: the
        table's line)."""
        self.lines[model_key(model)] = _line(lines, (MODELS, model))
        for field in table:
            self.lines[model_key(model, field)] = _line(lines, (MODELS, model, field))
        deployments = table.get(DEPLOYMENTS)
        if isinstance(deployments, list):
            headers = array_table_lines(self._text, (MODELS, model, DEPLOYMENTS))
            for index in range(len(deployments)):
                line = headers[index] if index < len(headers) else self.lines[model_key(model, DEPLOYMENTS)]
                self.lines[deployment_key(model, index)] = line

    def _first_model_line(self) -> int | None:
        prefix = MODELS + "."
        found = [line for key, line in self.lines.items() if key.startswith(prefix) and line]
        return min(found, default=None)


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
        setting = name.split(".", 1)[0]  # models."openai/x".context_window is in RLM_MODELS
        return f"{self.settings_cls.model_config.get('env_prefix', '')}{setting}".upper()

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        """A table (``RLM_MODELS``) is given as JSON; unset by an empty value, "none" or "null"."""
        if not isinstance(value, str):
            return value
        if value.strip().lower() in ("", "none", "null"):
            return {}
        try:
            return json.loads(value)
        except ValueError:
            example = '{"openai/smollm2": {"context_window": 2048}}'
            raise ConfigError(
                f"{self.where(field_name)}: {field_name} must be JSON, such as {example}, not {value!r}"
            ) from None

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


def setting_key(loc: Sequence[int | str]) -> str:
    """The setting an error is about, as messages name it: ``max_depth``, or in a model's table
    ``models."openai/x".context_window`` (``models."x"`` for the table itself), or in one of its
    deployments ``models."x".deployments[0].rpm``."""
    name = str(loc[0])
    if name != MODELS or len(loc) < 2:
        return name
    field = str(loc[2]) if len(loc) > 2 and loc[2] != "[key]" else None
    if field == DEPLOYMENTS and len(loc) > 3 and isinstance(loc[3], int):
        return deployment_key(str(loc[1]), loc[3], str(loc[4]) if len(loc) > 4 else None)
    return model_key(str(loc[1]), field)


def problem(settings_cls: type[BaseSettings], name: str, error: ErrorDetails) -> str:
    """One of pydantic's errors in our words: what ``name`` must be, and what it was."""
    kind, ctx, given, loc = error["type"], error.get("ctx") or {}, error["input"], error["loc"]
    in_table = loc[0] == MODELS and len(loc) > 2
    if kind == "extra_forbidden" and in_table and loc[2] == DEPLOYMENTS and len(loc) > 4:
        known = ", ".join(sorted(DeploymentSettings.model_fields))
        return f"unknown setting {str(loc[4])!r} in {name.rsplit('.', 1)[0]} (known: {known})"
    if kind == "missing":
        return f"{name} must be given"
    if kind == "extra_forbidden" and in_table:
        known = ", ".join(sorted(ModelSettings.model_fields))
        return f"unknown setting {str(loc[2])!r} in {model_key(str(loc[1]))} (known: {known})"
    if kind == "extra_forbidden":
        return f"unknown setting {name!r} (known: {', '.join(sorted(settings_cls.model_fields))})"
    if kind == "string_pattern_mismatch" and loc[0] == MODELS and loc[-1] == "[key]":
        return f'{name}: a model\'s table is named provider/name, as in [models."openai/gpt-4o"]'
    if kind == "string_pattern_mismatch" and loc[-1] == "api_key_env":
        return f"{name} must be the name of an environment variable, not {given!r}"
    if kind == "string_pattern_mismatch":
        return f"{name} must be a model name, provider/name, not {given!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        known = ", ".join(sorted(ModelSettings.model_fields))
        what = f"a table of {known}" if len(loc) > 1 else 'tables, one a model: [models."provider/name"]'
        return f"{name} must be {what}, not {given!r}"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    if kind == "greater_than_equal":
        need = f"at least {ctx['ge']:g}"
    elif kind == "greater_than":
        need = f"more than {ctx['gt']:g}"
    elif kind == "finite_number":
        need = "a finite number"
    elif kind == "literal_error":
        need = "one of " + ", ".join(map(str, get_args(settings_cls.model_fields[str(loc[0])].annotation)))
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


def array_table_lines(text: str, path: tuple[str, ...]) -> list[int]:
    """The line of each ``[[path]]`` header of a valid TOML text, in order (one per table of that
    array; ``key_lines`` keeps only the first)."""
    found: list[int] = []
    closing: str | None = None
    depth = 0
    for number, line in enumerate(text.split("\n"), 1):
        start = 0
        if closing is None and depth == 0:
            header = _HEADER.match(line)
            if header:
                if line.lstrip().startswith("[[") and _key_path(header.group(1)) == path:
                    found.append(number)
                continue
            if assignment := _ASSIGNMENT.match(line):
                start = assignment.end()
            else:
                continue
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
