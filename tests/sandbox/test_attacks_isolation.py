"""Hostile cells against the sandbox's walls, run through the real worker in both modes.

Each test is an attack a model steered by what it read could try (issue 12): reaching outside the
session through a planted link, reading the host's secrets and files, talking to its sockets,
exhausting memory, processes or disk, and outliving the host. Where the machine decides what can
hold (bubblewrap missing, not root, no user the worker can drop to), the test checks that the
isolation note says so instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlm_tui.engine.children import make_child_folder
from rlm_tui.errors import AttachmentError, WorkerStartError
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.process import choose_isolation
from rlm_tui.sandbox.settings import SandboxSettings

HAS_BWRAP = shutil.which("bwrap") is not None
MODES = [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed")),
    "process",
]
ROOT = os.geteuid() == 0


def settings(mode: str, **kw) -> SandboxSettings:
    return SandboxSettings(isolation=mode, interrupt_grace=1.0, **kw)


def walled(w: Worker) -> bool:
    """Whether the worker is kept from what its host's user may read: bubblewrap's view, or
    process mode as an unprivileged user while the host is root."""
    assert w.isolation is not None
    return w.isolation.level == "bubblewrap" or w.isolation.user is not None


def assert_says_why_not(w: Worker) -> None:
    assert w.isolation is not None and w.isolation.level == "process"
    assert "read your files" in w.isolation.note or "could not drop" in w.isolation.note


# -- 1. escape through a link ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_link_planted_for_a_child_never_reaches_outside_the_session(tmp_path, mode):
    home = tmp_path / "rlm-home"
    (home / "sessions").mkdir(parents=True)
    config = home / "config.toml"
    config.write_text('sandbox = "bubblewrap"\n')
    parent_dir = home / "sessions" / "s1"
    async with Worker(parent_dir, settings(mode)) as parent:
        # The attack of issue 12, and its variants on where the child's folder now lives.
        plant = await parent.run_cell(
            "import os\n"
            "for link in ('.children/t1.i1.c1.s1', '../s1.children', '../s1.children/t1.i1.c1.s1'):\n"
            "    try:\n"
            "        os.makedirs(os.path.dirname(link) or '.', exist_ok=True)\n"
            "        os.symlink('../../..', link)\n"
            "        print('planted', link)\n"
            "    except OSError as exc:\n"
            "        print('refused', link, exc.strerror)\n"
        )
        assert plant.status == "ok"
        try:
            child_dir = make_child_folder(parent_dir, "t1.i1.c1.s1")
        except WorkerStartError:
            assert not walled(parent)  # only a worker that can write beside its folder gets here
            child_dir = None
        if child_dir is not None:
            assert not stat.S_ISLNK(os.lstat(child_dir).st_mode)
            assert child_dir.parent == home / "sessions" / "s1.children"
            async with Worker(child_dir, settings(mode)) as child:
                await child.run_cell(
                    "for p in ('config.toml', '../config.toml', '../../config.toml', '../../../config.toml'):\n"
                    "    try:\n"
                    "        open(p, 'w').write('sandbox = \"process\"')\n"
                    "    except OSError:\n"
                    "        pass\n"
                )
    assert config.read_text() == 'sandbox = "bubblewrap"\n'
    assert sorted(p.name for p in home.iterdir()) == ["config.toml", "sessions"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_dangling_link_in_the_session_folder_does_not_stop_the_worker(tmp_path, mode):
    workdir = tmp_path / "s1"
    workdir.mkdir()
    os.symlink(tmp_path / "nowhere", workdir / ".tmp")
    os.symlink(tmp_path, workdir / "tmp")
    async with Worker(workdir, settings(mode)) as w:
        r = await w.run_cell("import tempfile, os\nprint(tempfile.gettempdir())")
        assert r.status == "ok"
        assert r.output.strip() == "/tmp"


async def test_a_session_folder_that_is_a_link_is_refused(tmp_path):
    os.symlink(tmp_path, tmp_path / "s1")
    with pytest.raises(WorkerStartError, match="not a folder"):
        async with Worker(tmp_path / "s1", settings("process")):
            pass


# -- 2. a sandbox that sees only its own ----------------------------------------------------

READ_ALL = """
import os, socket
for path in {paths!r}:
    try:
        with open(path, 'rb') as fh:
            print('READ', path, fh.read(20))
    except OSError as exc:
        print('denied', path, exc.strerror)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({sock!r})
    s.sendall(b'hello from the sandbox')
    print('CONNECTED')
except OSError as exc:
    print('no socket', exc.strerror)
import cloudpickle, json, re
print('imports ok')
"""


@pytest.mark.parametrize("mode", MODES)
async def test_a_cell_reads_nothing_of_rlm_home_the_home_folder_or_the_system_secrets(tmp_path, mode):
    home = tmp_path / "rlm-home"
    (home / "sessions").mkdir(parents=True)
    (home / "sessions.db").write_bytes(b"SQLite format 3\x00 other sessions")
    (home / "config.toml").write_text("api_key = 'sk-secret'\n")
    user_home = tmp_path / "user"
    user_home.mkdir()
    (user_home / ".netrc").write_text("password hunter2\n")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "agent.sock"))
    listener.listen(1)
    listener.setblocking(False)
    paths = [
        str(home / "sessions.db"),
        "../../sessions.db",
        str(home / "config.toml"),
        str(user_home / ".netrc"),
    ]
    paths.append("/etc/shadow")
    try:
        async with Worker(home / "sessions" / "s1", settings(mode)) as w:
            r = await w.run_cell(READ_ALL.format(paths=paths, sock=str(tmp_path / "agent.sock")))
            assert "imports ok" in r.output, r.output + str(r.error)
            if walled(w):
                assert "READ" not in r.output
                assert "CONNECTED" not in r.output
                with pytest.raises(BlockingIOError):
                    listener.accept()
            else:
                assert_says_why_not(w)
    finally:
        listener.close()


# -- 3. attached files without a view of the file system ------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_fifo_or_a_device_is_refused_at_once(tmp_path, mode):
    os.mkfifo(tmp_path / "pipe")
    async with Worker(tmp_path / "s1", settings(mode)) as w:
        for path in (tmp_path / "pipe", Path("/dev/zero")):
            started = time.monotonic()
            with pytest.raises(AttachmentError, match="not a regular file or folder"):
                await w.load_file("x", path)
            assert time.monotonic() - started < 2
        assert (await w.run_cell("print(1)")).output == "1\n"  # the worker is fine


@pytest.mark.parametrize("mode", MODES)
async def test_attached_files_reach_the_worker_as_descriptors_and_survive_a_restart(tmp_path, mode):
    (tmp_path / "notes.txt").write_text("héllo\n")
    folder = tmp_path / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "a.py").write_text("print('a')\n")
    (folder / "blob.bin").write_bytes(b"\x00\x01")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", folder / "escape.txt")
    os.symlink(tmp_path, folder / "up")
    async with Worker(tmp_path / "s1", settings(mode)) as w:
        info = await w.load_file("notes", tmp_path / "notes.txt")
        assert (info["type"], info["size"]) == ("str", 6)
        await w.load_file("project", folder, as_context=False)
        show = "print(repr(context)); print(sorted(files['project'].items()))"
        expected = (
            "'héllo\\n'\n[('blob.bin', b'\\x00\\x01'), "
            "('escape.txt', '<unreadable: a symbolic link, not followed>'), ('src/a.py', \"print('a')\\n\")]\n"
        )
        assert (await w.run_cell(show)).output == expected
        crashed = await w.run_cell("import os\nos._exit(3)")
        assert crashed.status == "crashed" and crashed.restart_note
        assert (await w.run_cell(show)).output == expected


# -- 4. as root, the worker is not root -----------------------------------------------------

HOST_ATTACK = """
import os
try:
    print('ENV', open(f'/proc/{HOST}/environ', 'rb').read().count(b'RLM_FAKE_SECRET'))
except OSError as exc:
    print('environ', type(exc).__name__)
try:
    os.kill(HOST, 0)
    print('CAN SIGNAL')
except OSError as exc:
    print('kill', type(exc).__name__)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print('ptrace', libc.ptrace(16, HOST, None, None))  # PTRACE_ATTACH
try:
    open('/etc/shadow').read()
    print('SHADOW')
except OSError as exc:
    print('shadow', type(exc).__name__)
"""


@pytest.mark.parametrize("mode", MODES)
async def test_a_cell_cannot_read_signal_or_trace_its_host(tmp_path, mode, monkeypatch):
    monkeypatch.setenv("RLM_FAKE_SECRET", "sk-do-not-leak")
    async with Worker(tmp_path / "s1", settings(mode)) as w:
        if walled(w):
            r = await w.run_cell(f"HOST = {os.getpid()}\n" + HOST_ATTACK)
            assert "ENV 1" not in r.output and "SHADOW" not in r.output, r.output
            assert "CAN SIGNAL" not in r.output and "ptrace -1" in r.output, r.output
        elif ROOT:  # (the attack would stop this very test process: it is not run)
            assert "could not drop to an unprivileged user" in w.isolation.note
        else:  # the user's own processes: the note says cells can reach them
            assert "environments of your other processes" in w.isolation.note


def _interpreter_nobody_can_run() -> str | None:
    """This interpreter, or the system's one of the same version, if ``nobody`` can run it with
    this checkout's packages (a pyenv under /root cannot be reached by other users)."""
    from rlm_tui.sandbox import identity

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, shutil.which(version, path="/usr/local/bin:/usr/bin")):
        if python is None:
            continue
        probe = subprocess.run(
            [python, "-c", "import sys, sysconfig; print(sysconfig.get_paths()['stdlib'])"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": ""},
        )
        stdlib = probe.stdout.strip()
        uid, gid = identity.pwd.getpwnam(identity.UNPRIVILEGED)[2:4]
        paths = [Path(os.path.realpath(python)), Path(stdlib), *identity.code_paths()[2:]]
        if probe.returncode == 0 and all(identity._reachable_by(p, uid, gid) for p in paths):
            return python
    return None


ROOT_HOST = """
import asyncio, sys
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings

async def main():
    async with Worker(sys.argv[1], SandboxSettings(isolation='process')) as w:
        print(w.isolation.user is not None, flush=True)
        print((await w.run_cell(sys.argv[2])).output, flush=True)

asyncio.run(main())
"""


@pytest.mark.skipif(not ROOT, reason="the drop to an unprivileged user is what a root host does")
def test_a_root_host_in_process_mode_hides_its_secrets_from_a_cell_run_as_nobody(tmp_path):
    python = _interpreter_nobody_can_run()
    if python is None:  # nothing nobody can run: the note says so (checked above in both modes)
        note = choose_isolation(SandboxSettings(isolation="process")).note
        assert "could not drop to an unprivileged user" in note
        return
    import cloudpickle

    site = str(Path(cloudpickle.__file__).parent.parent)
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": f"{repo}:{site}", "RLM_FAKE_SECRET": "sk-do-not-leak"}
    host = subprocess.Popen(
        [
            python,
            "-c",
            ROOT_HOST,
            str(tmp_path / "s1"),
            "import os\nHOST = int(open(f'/proc/{os.getppid()}/stat').read().rsplit(')', 1)[1].split()[1])\n"
            + HOST_ATTACK,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    # the cell finds the host above its guardian (its parent)
    out, _ = host.communicate(timeout=60)
    assert out.startswith("True\n"), out
    assert "environ PermissionError" in out and "kill PermissionError" in out, out
    assert "ptrace -1" in out and "shadow PermissionError" in out, out
