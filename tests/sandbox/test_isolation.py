"""How isolated a worker is, and what the app tells the user about it."""

from __future__ import annotations

import os
import shutil

import pytest

from rlm_tui.sandbox import process
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings

CAPS = "print(''.join(l for l in open('/proc/self/status') if l.startswith('Cap')))"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
async def test_a_bubblewrap_worker_has_no_capabilities(tmp_path):
    async with Worker(tmp_path, SandboxSettings(isolation="bubblewrap")) as w:
        assert w.isolation.level == "bubblewrap"
        out = (await w.run_cell(CAPS)).output
        caps = dict(line.split(":\t") for line in out.split("\n") if line)
        assert caps["CapEff"] == "0000000000000000" and caps["CapPrm"] == "0000000000000000"
        remount = await w.run_cell(  # MS_REMOUNT | MS_BIND without MS_RDONLY: make / writable
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.mount(None, b'/', None, 0x20 | 0x1000, None))"
        )
        assert remount.output == "-1\n"  # the read-only file system stays read-only


def test_the_process_only_notice_says_what_cells_can_read():
    isolation = process.choose_isolation(SandboxSettings(isolation="process"))
    assert isolation.level == "process" and "\n" not in isolation.note
    assert "read your files and the files and environments of your other processes" in isolation.note


@pytest.mark.parametrize("uid", [0, 1000])
def test_the_notice_says_the_process_cap_does_not_hold_for_root(monkeypatch, uid):
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    note = process.choose_isolation(SandboxSettings(isolation="process")).note
    assert ("the process cap does not apply" in note) == (uid == 0)
