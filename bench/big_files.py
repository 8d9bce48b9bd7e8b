"""Files of any size: a 10 GB text file attached through the real Worker, the needle found.

The file is generated once into bench/results/ (git-ignored) and reused; ``--clean`` deletes it.
Measured: attach time (the worker's one indexing pass), ``context.find`` and ``context.search``
times, the worker's peak resident memory (VmHWM, read by the worker from /proc/self/status), and
what ``src = context`` adds to a sessions database (the snapshot saved by the real Recorder).
Targets: worker under 1 GB; the aliased context under 1 MB in the database.

    .venv/bin/python bench/big_files.py [--gb 10] [--clean]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import RESULTS, report

from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings

NEEDLE = "NEEDLE-the-magic-number-is-4217"
LINE = "2026-11-30 12:00:00 INFO request served in 12 ms, café ok\n"


def data_file(gb: float) -> Path:
    return RESULTS / f"big_files_{gb:g}GB.txt"


def generate(path: Path, gb: float) -> None:
    """About ``gb`` GiB of log lines (with 2-byte characters), the needle in the last MiB."""
    block = (LINE * ((8 << 20) // len(LINE.encode()))).encode()
    target = int(gb * (1 << 30))
    tmp = path.with_suffix(".partial")
    with open(tmp, "wb") as fh:
        written = 0
        while written + len(block) < target - (1 << 20):
            fh.write(block)
            written += len(block)
        fh.write(LINE.encode() * 100 + f"{NEEDLE}\n".encode() + LINE.encode() * 100)
    tmp.rename(path)


def db_growth(snapshot: object) -> int:
    """Bytes the snapshot adds to an empty sessions database (the real Recorder)."""
    from rlm_tui.store.recorder import Recorder
    from rlm_tui.store.sessions import Store

    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "sessions.db"
        store = Store(db)
        Recorder(store.db).save_snapshot("bench", 1, snapshot, [], None)
        store.close()
        return sum(f.stat().st_size for f in Path(d).iterdir())


async def run(path: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as d:
        async with Worker(Path(d) / "repl", SandboxSettings()) as worker:
            t0 = time.perf_counter()
            info = await worker.load_file(path.name, path)
            attach = time.perf_counter() - t0
            cell = await worker.run_cell(
                "import time\n"
                "t = time.perf_counter(); i = context.find(NEEDLE); t_find = time.perf_counter() - t\n"
                "t = time.perf_counter(); m = context.search(NEEDLE); t_search = time.perf_counter() - t\n"
                "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
                "print(i, m.start(), t_find, t_search, int(hwm.split()[1]) * 1024, len(context))".replace(
                    "NEEDLE", repr(NEEDLE)
                )
            )
            if cell.status != "ok":
                raise SystemExit(f"the cell failed: {cell.output}")
            found, matched, t_find, t_search, peak, chars = cell.output.split()
            empty = db_growth(worker.snapshot)
            await worker.run_cell("src = context")
            blob = len(worker.snapshot.blobs.get("src", b""))
            grown = db_growth(worker.snapshot) - empty
    size = path.stat().st_size
    ok_found = int(found) == int(matched) >= 0
    rows += [
        {"measure": "file size", "value": size, "unit": "bytes"},
        {"measure": f"attached as ({info['type']})", "value": int(chars), "unit": "chars"},
        {"measure": "attach (one indexing pass)", "value": attach, "unit": "s"},
        {"measure": "context.find(needle)", "value": float(t_find), "unit": "s", "ok": ok_found},
        {"measure": "context.search(needle)", "value": float(t_search), "unit": "s", "ok": ok_found},
        {
            "measure": "worker peak RSS (VmHWM)",
            "value": int(peak),
            "unit": "bytes",
            "target": "< 1 GB",
            "ok": int(peak) < 1 << 30,
        },
        {"measure": "snapshot blob of src = context", "value": blob, "unit": "bytes"},
        {
            "measure": "database growth for src = context",
            "value": grown,
            "unit": "bytes",
            "target": "< 1 MB",
            "ok": grown < 1 << 20,
        },
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=10.0, help="size of the generated file (GiB)")
    parser.add_argument("--clean", action="store_true", help="delete the generated file and exit")
    args = parser.parse_args()
    path = data_file(args.gb)
    if args.clean:
        for p in RESULTS.glob("big_files_*GB.txt*"):
            p.unlink()
        return
    RESULTS.mkdir(exist_ok=True)
    if not path.exists():
        t0 = time.perf_counter()
        generate(path, args.gb)
        print(f"generated {path} ({os.path.getsize(path):,} bytes) in {time.perf_counter() - t0:.1f} s")
    report("big_files", asyncio.run(run(path)))


if __name__ == "__main__":
    main()
