"""The session folder's scratch space is capped as a whole, not only file by file: a cell writing
many files each under the per-file cap is stopped, what it wrote is removed (newest first) until
the folder is back under the cap, earlier files are kept, and a link in the folder never turns a
removal outwards."""

from __future__ import annotations

import os
import shutil

import pytest

from rlm_tui.sandbox import scratch
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings

HAS_BWRAP = shutil.which("bwrap") is not None
MODES = [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed")),
    "process",
]
MiB = 1 << 20


@pytest.mark.parametrize("mode", MODES)
async def test_many_files_each_under_the_cap_cannot_fill_the_folder(tmp_path, mode):
    settings = SandboxSettings(isolation=mode, scratch_bytes=8 * MiB, interrupt_grace=1.0)
    async with Worker(tmp_path / "repl", settings) as worker:
        first = await worker.run_cell("open('kept.bin', 'wb').write(b'k' * (2 << 20)); x = 1")
        assert first.status == "ok"
        flood = (
            "import os\n"
            "for i in range(40):\n"
            "    with open(f'part{i:02}.bin', 'wb') as fh:\n"
            "        fh.write(os.urandom(1 << 20))\n"
        )
        result = await worker.run_cell(flood, timeout=60)
        assert result.status == "error"
        assert "scratch cap of 8.0 MiB" in (result.error or "")
        assert "scratch cap" in result.output  # the model sees it in the cell's output too
        assert scratch.measure(tmp_path / "repl").bytes <= 8 * MiB
        assert (tmp_path / "repl" / "kept.bin").exists()  # written before the cell: kept
        again = await worker.run_cell("print(x + 1)")
        assert again.status == "ok" and again.stdout.strip() == "2"


async def test_a_cell_within_the_cap_is_left_alone(tmp_path):
    settings = SandboxSettings(isolation="process", scratch_bytes=8 * MiB)
    async with Worker(tmp_path / "repl", settings) as worker:
        result = await worker.run_cell("open('a.bin', 'wb').write(b'a' * (3 << 20))")
        assert result.status == "ok" and "scratch" not in result.output
        assert (tmp_path / "repl" / "a.bin").stat().st_size == 3 << 20


def test_trimming_never_follows_a_link_out_of_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.bin").write_bytes(b"p" * MiB)
    root = tmp_path / "repl"
    root.mkdir()
    (root / "sub").mkdir()
    (root / "sub" / "big.bin").write_bytes(b"b" * (3 * MiB))
    os.symlink(outside, root / "link")  # planted by a cell
    os.symlink(outside / "precious.bin", root / "file-link")
    removed, left = scratch.trim(root, MiB, since=0)
    assert removed == ["sub/big.bin"]
    assert (outside / "precious.bin").exists()
    assert left <= MiB
