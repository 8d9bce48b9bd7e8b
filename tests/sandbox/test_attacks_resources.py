"""Hostile cells against the sandbox's caps: memory and processes over the whole worker tree,
the session folder's scratch space, and a worker (or its daemons) outliving a killed host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from rlm_tui.sandbox import cgroups
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.process import PROCESS_CAPS, TREE_CAPS
from rlm_tui.sandbox.settings import SandboxSettings

HAS_BWRAP = shutil.which("bwrap") is not None
MODES = [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed")),
    "process",
]
MIB = 1 << 20


def tree_capped(w: Worker) -> bool:
    """The note says which caps hold; it must say the truth either way."""
    assert w.isolation is not None
    capped = TREE_CAPS in w.isolation.note
    assert capped != (PROCESS_CAPS in w.isolation.note)
    return capped


FOUR_FORKS = """
import os, signal, time
held = []
for _ in range(4):
    r, w = os.pipe()
    ping_r, ping_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            block = b'x' * {each}  # touched: every page is really used
            os.write(w, b'1')
            if os.read(ping_r, 1) == b'?':
                os.write(w, b'2')  # still alive, still holding it
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(w)
    os.close(ping_r)
    held.append((pid, r, ping_w))
holding = sum(os.read(r, 1) == b'1' for _, r, _ in held)
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
alive = 0
for pid, r, ping_w in held:
    try:
        os.write(ping_w, b'?')
    except OSError:
        pass
    alive += os.read(r, 1) == b'2'  # a child the kernel killed answers with end-of-file
for pid, _, _ in held:
    try:
        os.kill(pid, 9)
    except OSError:
        pass
    os.waitpid(pid, 0)
print('alive', alive, 'holding', holding, flush=True)
"""


@pytest.mark.parametrize("mode", MODES)
async def test_four_forks_cannot_hold_more_than_the_memory_cap_together(tmp_path, mode):
    cap = 400 * MIB
    async with Worker(tmp_path / "s1", SandboxSettings(isolation=mode, memory_bytes=cap)) as w:
        if not tree_capped(w):  # no cgroup can be made here: the note says so (checked above)
            return
        r = await w.run_cell(FOUR_FORKS.format(each=cap // 3), timeout=30)
        assert r.status == "ok" and "alive" in r.output, (r.output, r.error)
        alive = int(r.output.split()[1])
        assert alive < 3, r.output  # 3 x 1/3 plus the worker is over the cap: some were stopped
        assert (await w.run_cell("print('still here')")).output == "still here\n"


FORK_BOMB = """
import os, time
made = []
for _ in range(300):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    made.append(pid)
print('forked', len(made))
for pid in made:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""


@pytest.mark.parametrize("mode", MODES)
async def test_a_bounded_fork_bomb_stops_near_the_process_cap(tmp_path, mode):
    async with Worker(tmp_path / "s1", SandboxSettings(isolation=mode, max_processes=32)) as w:
        r = await w.run_cell(FORK_BOMB, timeout=30)
        forked = int(r.output.split("forked")[-1])
        if tree_capped(w) or os.geteuid() != 0 or w.isolation.user is not None:
            assert forked <= 32 + cgroups.PROC_OVERHEAD, r.output
        else:  # root without a cgroup: RLIMIT_NPROC counts every root process; the note says so
            assert PROCESS_CAPS in w.isolation.note
        assert (await w.run_cell("print('still here')")).output == "still here\n"


@pytest.mark.parametrize("mode", MODES)
async def test_a_cell_writing_twice_the_scratch_cap_gets_a_clear_error(tmp_path, mode):
    cap = 4 * MIB
    async with Worker(tmp_path / "s1", SandboxSettings(isolation=mode, scratch_bytes=cap)) as w:
        r = await w.run_cell(f"with open('big.bin', 'wb') as fh:\n    fh.write(b'x' * {2 * cap})")
        assert r.status == "error" and "File too large" in (r.error or ""), r.error
        assert os.path.getsize(tmp_path / "s1" / "big.bin") <= cap
        assert (await w.run_cell("print('still here')")).output == "still here\n"


HOST = """
import asyncio, sys
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings

async def main():
    w = Worker(sys.argv[1], SandboxSettings(isolation=sys.argv[2]))
    await w.start()
    cell = asyncio.create_task(w.run_cell(sys.argv[3]))
    await asyncio.sleep(0)  # the request is on its way
    print('running', flush=True)
    await cell
    await asyncio.sleep(3600)

asyncio.run(main())
"""

DAEMONS = """
import os, subprocess, sys
token = {token!r}
open('started', 'w').close()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import time\\nwhile True: time.sleep(1)', token])
    os._exit(0)
subprocess.Popen([sys.executable, '-c', 'while True: pass', token], start_new_session=True)
print('spawned', flush=True)
while True:
    pass
"""

GIL_LOOP = """
import re
open('started', 'w').close()
re.match(r'(a+)+$', 'a' * 40 + 'b')
"""


def tree_of(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError):
                pass
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found.update(kids)
        todo.extend(kids)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def with_token(token: str) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if token.encode() in fh.read():
                        found.add(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cell", ["daemons", "gil"])
def test_nothing_of_the_worker_survives_a_killed_host(tmp_path, mode, cell):
    token = f"rlm-test-{uuid.uuid4().hex}"
    code = DAEMONS.format(token=token) if cell == "daemons" else GIL_LOOP
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, str(tmp_path / "s1"), mode, code],
        stdout=subprocess.PIPE,
        cwd=os.getcwd(),
    )
    try:
        assert host.stdout is not None and host.stdout.readline() == b"running\n"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len(with_token(token)) >= 2 if cell == "daemons" else (tmp_path / "s1" / "started").exists():
                break
            time.sleep(0.02)
        tree = tree_of(host.pid) | with_token(token)
        assert len(tree) >= 2  # the worker (and its daemons) really run
    finally:
        host.kill()
        host.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [pid for pid in tree if alive(pid)]
    assert not [pid for pid in with_token(token) if alive(pid)]


async def test_where_no_cgroup_can_be_made_the_note_says_the_caps_are_per_process(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "create", lambda *a, **k: None)
    async with Worker(tmp_path / "s1", SandboxSettings(isolation="process")) as w:
        assert not tree_capped(w) and w.isolation.note.endswith(PROCESS_CAPS)
        assert (await w.run_cell("print('fine')")).output == "fine\n"
