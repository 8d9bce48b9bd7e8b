"""How isolated a worker is, and what the app tells the user about it."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import pytest

from rlm_tui.sandbox import identity, process
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.view import view_args

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
def test_the_notice_says_when_a_root_worker_could_not_drop_to_an_unprivileged_user(monkeypatch, uid):
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    monkeypatch.setattr(identity, "code_paths", lambda: [Path("/nonexistent/python3")])
    isolation = process.choose_isolation(SandboxSettings(isolation="process"))
    assert isolation.user is None
    assert ("could not drop to an unprivileged user" in isolation.note) == (uid == 0)
    assert "/nonexistent/python3" in isolation.note or uid != 0


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_a_root_host_runs_a_process_worker_as_nobody_where_nobody_can_reach_python(monkeypatch):
    monkeypatch.setattr(identity, "code_paths", lambda: [Path("/usr/bin/env")])
    isolation = process.choose_isolation(SandboxSettings(isolation="process"))
    assert isolation.user is not None and isolation.user.uid == pwd.getpwnam("nobody").pw_uid
    assert "cells run as user 'nobody'" in isolation.note


def test_the_note_says_which_caps_hold():
    base = process.choose_isolation(SandboxSettings(isolation="process"))
    tree = process.with_caps(base, True)
    assert tree.note.endswith("memory and processes capped for the whole worker tree (cgroup)")
    per_process = process.with_caps(tree, False)
    assert per_process.note.endswith("capped per process only (no cgroup could be made)")
    assert "cgroup)" not in per_process.note.replace("(no cgroup could be made)", "")


def test_the_bubblewrap_view_holds_nothing_of_the_home_folder_or_rlm_home(tmp_path):
    args = view_args(tmp_path / "s1", 1 << 20, as_root=False)
    sources = {args[i + 1] for i, a in enumerate(args) if a in ("--ro-bind", "--bind")}
    assert str(tmp_path / "s1") in sources and "/" not in sources
    assert not [s for s in sources if s in ("/home", "/root", "/run", "/tmp", "/var", "/etc")]
    assert not [s for s in sources if s.startswith(os.path.expanduser("~/.config"))]
