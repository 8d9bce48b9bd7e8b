"""Recorded sessions, for the CLI commands and the app alike: find, show, search, fork, rename,
export and delete (a session's folder goes with it)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from rlm_tui.errors import UsageError
from rlm_tui.events import Event
from rlm_tui.events.fold import TurnRecord, fold_turns
from rlm_tui.services.runtime import locks_root, open_store, sessions_root
from rlm_tui.services.visible import json_safe, visible
from rlm_tui.store.sessions import SearchHit, SessionRow, Store

__all__ = ["Catalog", "SearchHit", "SessionRow", "title_from"]

ExportFormat = Literal["md", "jsonl", "events"]
SUFFIX = {"md": "md", "jsonl": "jsonl", "events": "events.jsonl"}


class Catalog:
    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def open(cls) -> Catalog:
        return cls(open_store())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- finding -----------------------------------------------------------------------------

    def resolve(self, id_or_prefix: str) -> str:
        return self.store.resolve(id_or_prefix)

    def get(self, session_id: str) -> SessionRow:
        return self.store.get(session_id)

    def list(self, limit: int = 50) -> list[SessionRow]:
        return self.store.list(limit=limit)

    def latest(self) -> SessionRow | None:
        return self.store.latest()

    def search(self, text: str, limit: int = 50, marks: tuple[str, str] = ("[", "]")) -> list[SearchHit]:
        return self.store.search(text, limit=limit, marks=marks)

    def history(self, session_id: str) -> list[dict[str, Any]]:
        return self.store.history(session_id)

    def events(self, session_id: str) -> list[Event]:
        return self.store.events(session_id)

    def event_rows(self, session_id: str) -> Iterator[dict[str, Any]]:
        return self.store.event_rows(session_id)

    def turns(self, session_id: str) -> list[TurnRecord]:
        return fold_turns(self.store.events(session_id))

    # -- changing ----------------------------------------------------------------------------

    def fork(self, session_id: str, turn: int) -> str:
        """A new session from ``turn`` of this one (its REPL from that turn's snapshot)."""
        from rlm_tui.engine.session import new_session_id

        return self.store.fork(session_id, turn, new_session_id())

    def rename(self, session_id: str, title: str) -> None:
        self.store.rename(session_id, title)

    def delete(self, session_id: str) -> SessionRow:
        """The session's records, its folder and its lock file. Returns what was deleted."""
        info = self.store.get(session_id)
        self.store.delete(session_id)
        self._remove_folder(info.workdir)
        (locks_root() / f"{session_id}.lock").unlink(missing_ok=True)
        return info

    def forget(self, session_id: str, workdir: str | os.PathLike | None) -> None:
        """A new session closed before its first message: it leaves nothing behind."""
        self.store.delete(session_id)
        self._remove_folder(workdir)

    @staticmethod
    def _remove_folder(workdir: str | os.PathLike | None) -> None:
        """A session's own folder, and nothing else: a path the database holds that is not inside
        the sessions folder (a damaged or edited database) is left alone."""
        if not workdir:
            return
        folder, sessions = Path(workdir).resolve(), sessions_root().resolve()
        if folder.parent == sessions and folder.is_dir() and not Path(workdir).is_symlink():
            shutil.rmtree(folder, ignore_errors=True)

    # -- exporting ---------------------------------------------------------------------------

    def export_text(self, session_id: str, fmt: ExportFormat) -> str:
        """The export, safe to print or ``cat``: JSON keeps every character (controls escaped the
        JSON way); Markdown, which has no escape for them, shows controls as ``visible`` does."""
        if fmt == "events":  # our own log: every recorded event, as `rlm view` reads it
            rows = self.event_rows(session_id)
            return "".join(json_safe(json.dumps(row, ensure_ascii=False)) + "\n" for row in rows)
        from rlm_tui.store.export import to_jsonl, to_markdown

        if fmt == "md":
            return visible(to_markdown(self.store, session_id))
        return json_safe(to_jsonl(self.store, session_id))

    def export(
        self, session_id: str, fmt: ExportFormat | None = None, path: str | os.PathLike | None = None
    ) -> Path:
        """Write the export to ``path`` (default: ``rlm-ID.md`` / ``.jsonl`` in the current folder).
        Without a format, a path ending in .jsonl is the rlm log format, anything else Markdown."""
        if fmt is None:
            fmt = "jsonl" if path is not None and str(path).strip().endswith(".jsonl") else "md"
        target = Path(path).expanduser() if path else Path.cwd() / f"rlm-{session_id}.{SUFFIX[fmt]}"
        text = self.export_text(session_id, fmt)
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"could not write {target}: {exc.strerror or exc}") from None
        return target.resolve()


def title_from(message: str) -> str:
    """The title a new session takes from its first message (as the browser shows it)."""
    from rlm_tui.store.derive import title_from as derive_title

    return derive_title(message)


def recover_store(out: str | os.PathLike | None = None) -> Any:  # -> store.recover.Recovered
    """Copy what can be read from the session database (damaged or not) into a new one at
    ``out`` (default: ``sessions-recovered-DATE.db`` beside it); the original is left as it was."""
    import time

    from rlm_tui.services.runtime import store_path
    from rlm_tui.store.recover import recover

    source = store_path()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = Path(out).expanduser() if out else source.with_name(f"sessions-recovered-{stamp}.db")
    return recover(source, target.absolute())
