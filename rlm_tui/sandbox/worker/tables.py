"""CSV and JSON Lines files attached as tables: rows the code can query, read lazily.

A table is never loaded whole: each pass (iteration, ``len``, ``filter``) streams the rows from
the file's descriptor with ``os.pread`` (so two passes at once do not share a file position).
``len`` is counted on first use and kept. The raw text stays reachable (``table.text``), and str
methods used on the table (``context.split("\\n")``) act on that text, so code written for a CSV
held as a str keeps working.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from rlm_tui.sandbox.worker import bigtext
from rlm_tui.sandbox.worker.textfile import text_of

KINDS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class _PReader(io.RawIOBase):
    """A file position of its own over a shared descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd, self._pos = fd, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = os.pread(self._fd, len(buf), self._pos)
        buf[: len(data)] = data
        self._pos += len(data)
        return len(data)


class Table:
    """Rows of a CSV (dicts keyed by the header) or JSONL file (one JSON value a line)."""

    def __init__(self, fd: int, name: str, kind: str, key: tuple[str, str] = ("", "")) -> None:
        self._fd, self.name, self.kind, self._key = fd, name, kind, key
        self.nbytes = os.fstat(fd).st_size
        self._len: int | None = None
        self._text: Any = None
        self.delimiter = "\t" if name.endswith(".tsv") else ","

    def _lines(self) -> io.TextIOWrapper:
        raw = io.BufferedReader(_PReader(self._fd), 1 << 20)
        return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")

    def __iter__(self) -> Iterator[Any]:
        stream = self._lines()
        if self.kind == "csv":
            yield from csv.DictReader(stream, delimiter=self.delimiter)
            return
        for number, line in enumerate(stream, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{self.name}, line {number}: not JSON ({exc.msg})") from None

    @property
    def columns(self) -> list[str]:
        """The CSV header, or the keys of the first 100 JSON objects in order of appearance."""
        if self.kind == "csv":
            return next(csv.reader(self._lines(), delimiter=self.delimiter), [])
        keys: dict[str, None] = {}
        for row in itertools.islice(self, 100):
            if isinstance(row, dict):
                keys.update(dict.fromkeys(row))
        return list(keys)

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for _ in self)
        return self._len

    def head(self, n: int = 5) -> list[Any]:
        return list(itertools.islice(self, n))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            if (key.start or 0) >= 0 and (key.stop is None or key.stop >= 0) and (key.step or 1) > 0:
                return list(itertools.islice(self, key.start, key.stop, key.step))
            return list(self)[key]
        if not isinstance(key, int):
            raise TypeError(f"table rows are numbered: use table[0], not table[{key!r}]")
        if key < 0:
            key += len(self)
        row = next(itertools.islice(self, key, None), None) if key >= 0 else None
        if row is None:
            raise IndexError("table row out of range")
        return row

    def filter(self, where: Callable[[Any], bool] | None = None, **equals: Any) -> list[Any]:
        """Rows for which ``where(row)`` is true and each ``column=value`` holds."""
        out = []
        for row in self:
            if equals and not (isinstance(row, dict) and all(row.get(k) == v for k, v in equals.items())):
                continue
            if where is None or where(row):
                out.append(row)
        return out

    def column(self, name: str) -> list[Any]:
        return [row.get(name) if isinstance(row, dict) else None for row in self]

    @property
    def text(self) -> Any:
        """The file's text: a str, or a ``BigText`` for a large file."""
        if self._text is None:
            self._text = text_of(self._fd, self.name, self._key, owned=False)
        return self._text

    def __str__(self) -> str:
        return str(self.text)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not hasattr(str, name):
            raise AttributeError(f"'Table' object has no attribute {name!r}")
        return getattr(self.text, name)

    def __contains__(self, item: Any) -> bool:
        return item in self.text if isinstance(item, str) else any(row == item for row in self)

    def __repr__(self) -> str:
        rows = f"{self._len:,} rows" if self._len is not None else f"{self.nbytes:,} bytes"
        return (
            f"<Table {self.name!r} ({self.kind}, {rows}): iterate for rows ({'dicts' if self.kind == 'csv' else 'JSON values'}), "
            ".columns, len(), .head(n), [i], .filter(fn, col=value), .column(name), .text>"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (bigtext.by_reference, (self._key, self.nbytes))
