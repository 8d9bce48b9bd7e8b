"""Host-side record of a REPL's variables: one opaque pickle per variable.

The host never unpickles these blobs (model code could have put anything in them); it only
keeps them, stores them, and hands them to a worker to load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Snapshot:
    blobs: dict[str, bytes] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it is not in blobs

    def apply(self, delta: dict[str, Any], blobs: list[bytes]) -> None:
        for name, blob in zip(delta.get("changed", []), blobs, strict=True):
            self.blobs[name] = blob
        for name in delta.get("removed", []):
            self.blobs.pop(name, None)
        self.skipped = dict(delta.get("skipped", {}))
        for name in self.skipped:
            self.blobs.pop(name, None)

    def copy(self) -> Snapshot:
        return Snapshot(dict(self.blobs), dict(self.skipped))

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.blobs.values())
