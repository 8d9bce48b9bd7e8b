"""Sandbox settings: the limits a REPL worker runs under."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxSettings:
    output_cap_chars: int = 10_000_000  # captured per cell; the rest is dropped and counted
    model_output_chars: int = 20_000  # what the model sees of a cell's output (head + tail)
    memory_bytes: int = 8 << 30  # RLIMIT_AS of the worker
    max_processes: int = 64  # processes the worker may start (RLIMIT_NPROC headroom)
    snapshot_max_bytes: int = 256 << 20  # a variable whose pickle is larger is not snapshotted
    snapshot_seconds: float = 20.0  # a variable that takes longer to pickle is not snapshotted
    interrupt_grace: float = 3.0  # seconds a cell gets to stop after an interrupt before a kill
    start_timeout: float = 30.0
    control_timeout: float = 30.0  # variable table, snapshots: they run model objects' methods
    scratch_bytes: int = 4 << 30  # the session folder's cap, and each file's (RLIMIT_FSIZE; /tmp)
    big_file_bytes: int = 64 << 20  # an attached text file larger than this is read on demand (BigText)
    isolation: str = "auto"  # auto (bubblewrap where it works) | bubblewrap | process
    light_children: bool = True  # a child RLM's worker is started by its parent's, in its sandbox

    def worker_args(self) -> dict[str, float]:
        return {
            "output_cap_chars": self.output_cap_chars,
            "memory_bytes": self.memory_bytes,
            "max_processes": self.max_processes,
            "snapshot_max_bytes": self.snapshot_max_bytes,
            "snapshot_seconds": self.snapshot_seconds,
            "scratch_bytes": self.scratch_bytes,
            "big_file_bytes": self.big_file_bytes,
        }
