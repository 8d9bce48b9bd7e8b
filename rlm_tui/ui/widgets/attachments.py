"""The attached files, as chips above the editor: name and size of each, and a chip with how
much has been read and the time so far for one still loading (a file of GBs takes seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static

from rlm_tui.services.formatting import file_size, read_so_far, size_unit

human_bytes = file_size


def chip_text(attachment) -> str:
    """``notes.txt · 1.2 KB``: the size on disk (as loaded when the disk size is not known)."""
    if attachment.disk_bytes:
        return f"{attachment.name} · {human_bytes(attachment.disk_bytes)}"
    return f"{attachment.name} · {attachment.size:,} {size_unit(attachment.type)}"


class AttachmentChips(Static):
    """One line of chips, redrawn in place (a chip per file: no widgets to mount and remove)."""

    DEFAULT_CSS = """
    AttachmentChips { height: auto; display: none; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.shown: tuple[str, ...] = ()  # the chips' texts, glyph included
        # name -> (started, bytes on disk, how far it has been read: (bytes, size) or None)
        self.loading: dict[str, tuple[float, int, Callable[[], tuple[int, int] | None]]] = {}

    def show(self, attachments: list) -> None:
        """Redraw when what is attached (or loading) changed; cheap to call often."""
        now = time.monotonic()
        chips = tuple(f"📎 {chip_text(a)}" for a in attachments) + tuple(
            " · ".join(
                part
                for part in (
                    f"⏳ loading {name}",
                    human_bytes(size),
                    read_so_far(probe()),
                    f"{now - started:.0f} s",
                )
                if part
            )
            for name, (started, size, probe) in self.loading.items()
        )
        if chips == self.shown:
            return
        self.shown = chips
        line = Text()
        for chip in chips:
            style = "reverse" if chip.startswith("📎") else "bold reverse"
            line.append(f" {chip} ", style=style)
            line.append("  ")
        self.update(line)
        self.display = bool(chips)
