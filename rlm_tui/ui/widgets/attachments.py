"""The attached files, as chips above the editor: name and size of each, and a chip with the
time so far for one still loading (a file of hundreds of MB takes seconds)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from rlm_tui.services.formatting import file_size

human_bytes = file_size


def chip_text(attachment) -> str:
    """``notes.txt · 1.2 KB``: the size on disk (as loaded when the disk size is not known)."""
    if attachment.disk_bytes:
        return f"{attachment.name} · {human_bytes(attachment.disk_bytes)}"
    unit = "chars" if attachment.type == "str" else "items"
    return f"{attachment.name} · {attachment.size:,} {unit}"


class AttachmentChips(Static):
    """One line of chips, redrawn in place (a chip per file: no widgets to mount and remove)."""

    DEFAULT_CSS = """
    AttachmentChips { height: auto; display: none; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.shown: tuple[str, ...] = ()  # the chips' texts, glyph included
        self.loading: dict[str, tuple[float, int]] = {}  # name -> (started, bytes on disk)

    def show(self, attachments: list) -> None:
        """Redraw when what is attached (or loading) changed; cheap to call often."""
        now = time.monotonic()
        chips = tuple(f"📎 {chip_text(a)}" for a in attachments) + tuple(
            f"⏳ loading {name} · {human_bytes(size)} · {now - started:.0f} s"
            for name, (started, size) in self.loading.items()
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
