"""An attached Parquet file as a table of rows, read batch by batch (pyarrow, imported only when
a Parquet file is attached)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

from rlm_tui.sandbox.worker import bigtext


class ParquetTable:
    """Rows as dicts, read lazily: iterate, len(), .columns, .head(n), [i], .filter(fn, col=value),
    .column(name)."""

    kind = "parquet"

    def __init__(self, fd: int, name: str, key: tuple[str, str] = ("", "")) -> None:
        import pyarrow.parquet as pq

        self._fd, self.name, self._key = fd, name, key
        self.nbytes = os.fstat(fd).st_size
        self._file = pq.ParquetFile(os.fdopen(os.dup(fd), "rb"))
        self.columns: list[str] = list(self._file.schema_arrow.names)
        self._len: int = self._file.metadata.num_rows

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self._file.iter_batches(batch_size=4096):
            yield from batch.to_pylist()

    def head(self, n: int = 5) -> list[dict[str, Any]]:
        return list(itertools.islice(self, n))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(self._len))]
        if not isinstance(key, int):
            raise TypeError(f"table rows are numbered: use table[0], not table[{key!r}]")
        if key < 0:
            key += self._len
        if not 0 <= key < self._len:
            raise IndexError("table row out of range")
        start = 0
        for group in range(self._file.num_row_groups):
            rows = self._file.metadata.row_group(group).num_rows
            if key < start + rows:
                return self._file.read_row_group(group).slice(key - start, 1).to_pylist()[0]
            start += rows
        raise IndexError("table row out of range")

    def filter(self, where: Callable[[Any], bool] | None = None, **equals: Any) -> list[dict[str, Any]]:
        """Rows for which ``where(row)`` is true and each ``column=value`` holds."""
        return [
            row
            for row in self
            if all(row.get(k) == v for k, v in equals.items()) and (where is None or where(row))
        ]

    def column(self, name: str) -> list[Any]:
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; the columns are {self.columns}")
        return self._file.read(columns=[name]).column(0).to_pylist()

    def describe(self) -> str:
        return (
            f"table {self.name!r} (parquet, {self._len:,} rows, {len(self.columns)} columns, {self.nbytes:,} bytes): "
            "iterate for rows (dicts), .columns, len(), .head(n), [i], .filter(fn, col=value), .column(name)"
        )

    def __repr__(self) -> str:
        return f"<ParquetTable {self.name!r} ({self._len:,} rows): .columns, len(), .head(n), [i], .filter, .column>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (bigtext.by_reference, (self._key, self.nbytes))
