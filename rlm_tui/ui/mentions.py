"""``@path`` in a message: the files it attaches."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from rlm_tui.errors import AttachmentError

_TRAILING = ".,;:!?)]}'\""
_DATA_SUFFIXES = {".log", ".jsonl", ".ndjson", ".parquet", ".toml", ".yaml", ".yml", ".tsv", ".ipynb"}


def _looks_like_a_file(path: str) -> bool:
    suffix = Path(path).suffix.lower()
    return (
        "/" in path
        or path.startswith("~")
        or suffix in _DATA_SUFFIXES
        or (bool(suffix) and mimetypes.guess_type("x" + suffix)[0] is not None)
    )


def attachments_in(text: str) -> list[str]:
    """The files a message attaches with ``@path`` (punctuation after it is not part of it). A word
    that looks like a path (a / or ~, or a file extension) but names no file stops the message, so
    nothing is sent without it; other words after an @ ("@alice", "@john.doe") are text."""
    paths = []
    for word in text.split():
        if not word.startswith("@") or len(word) == 1:
            continue
        path = word[1:]
        bare = path.rstrip(_TRAILING)
        if Path(path).expanduser().exists():
            paths.append(path)
        elif bare and Path(bare).expanduser().exists():
            paths.append(bare)
        elif bare and _looks_like_a_file(bare):
            raise AttachmentError(f"no such file: {bare} (the message was not sent)")
    return list(dict.fromkeys(paths))  # each file once
