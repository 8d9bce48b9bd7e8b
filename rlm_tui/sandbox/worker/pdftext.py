"""An attached PDF as its pages' text (pypdf, imported only when a PDF is attached)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class PdfText:
    """A list-like of page texts: len() = pages, [i] = a page's text, ``.text`` = all pages
    joined with form feeds."""

    def __init__(self, name: str, pages: list[str]) -> None:
        self.name, self.pages = name, pages

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, key: Any) -> Any:
        return self.pages[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.pages)

    @property
    def text(self) -> str:
        return "\f".join(self.pages)

    def __str__(self) -> str:
        return self.text

    def describe(self) -> str:
        chars = sum(len(p) for p in self.pages)
        return (
            f"PDF {self.name!r}, {len(self.pages):,} pages, {chars:,} chars of text "
            "(a PdfText: len(), [i] = a page's text, iterate for pages, .text = all pages)"
        )

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


def load(fd: int, name: str) -> Any:
    """The PDF's page texts, or None when it cannot be parsed (the caller attaches bytes)."""
    import logging
    import os

    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with os.fdopen(os.dup(fd), "rb") as fh:
        try:
            reader = pypdf.PdfReader(fh)
            return PdfText(name, [page.extract_text() or "" for page in reader.pages])
        except Exception:  # any parse failure: the caller attaches the bytes
            return None
