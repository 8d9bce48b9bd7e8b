"""Sessions that survive their variables: a variable whose loading ends the worker, sleeps, holds
the interpreter lock or raises is skipped and named, and the others come back -- on a resume
(``Worker.restore``) and on a restart after a crash."""

from __future__ import annotations

import asyncio
import operator
import os
import pickle
import re
import signal
import time

import pytest

from rlm_tui.sandbox.host import MAX_RESTORE_DEATHS, Worker
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.snapshot import Snapshot

SECONDS = 1.0
SETTINGS = SandboxSettings(snapshot_seconds=SECONDS, interrupt_grace=0.5)


class _Calls:
    """Pickles as a call of ``fn(*args)``: what a variable's __reduce__ can make a restore run."""

    def __init__(self, fn, *args) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


BAD = {
    "exits": (_Calls(os._exit, 3), "its restore ended the worker"),
    "sleeps": (_Calls(time.sleep, 3600), f"its restore took longer than {SECONDS:g} s"),
    "loops_in_a_regex": (
        _Calls(re.match, r"(a+)+$", "a" * 64 + "b"),
        f"its restore took longer than {SECONDS:g} s",
    ),
    # blocks the worker's timer signal, then sleeps: only the host's deadline (a kill) ends it
    "ignores_its_timer": (
        _Calls(
            time.sleep,
            _Calls(
                operator.add,
                3600,
                _Calls(len, _Calls(signal.pthread_sigmask, signal.SIG_BLOCK, [signal.SIGALRM])),
            ),
        ),
        f"its restore took longer than {SECONDS:g} s",
    ),
    "raises": (_Calls(int, "not a number"), "its restore failed (ValueError"),
}


def _snapshot(*bad: str) -> Snapshot:
    blobs = {"before": pickle.dumps([1, 2, 3])}
    blobs.update({name: pickle.dumps(BAD[name][0]) for name in bad})
    blobs["after"] = pickle.dumps({"k": "v"})
    return Snapshot(blobs)


@pytest.mark.parametrize("bad", list(BAD))
async def test_a_resume_skips_the_variable_that_cannot_be_restored_and_restores_the_rest(tmp_path, bad):
    async with Worker(tmp_path / "repl", SETTINGS) as w:
        started = time.monotonic()
        failed = await asyncio.wait_for(w.restore(_snapshot(bad)), 30)
        took = time.monotonic() - started
        result = await w.run_cell("print(before, after)")
    assert set(failed) == {bad}
    assert failed[bad].startswith(BAD[bad][1])
    assert result.output == "[1, 2, 3] {'k': 'v'}\n"
    assert took < SECONDS + 0.5 + 5.0
    assert bad not in w.snapshot.blobs  # not met again at the next restart


async def test_every_kind_at_once_among_many_is_bounded_and_names_only_the_culprits(tmp_path):
    """Restores are pipelined: the variable named is the one the worker was loading, not one
    queued behind it."""
    snap = _snapshot()
    for i, name in enumerate(BAD):
        snap.blobs.update({f"g_{i}_{j}": pickle.dumps(j) for j in range(20)})
        snap.blobs[name] = pickle.dumps(BAD[name][0])
    async with Worker(tmp_path / "repl", SETTINGS) as w:
        started = time.monotonic()
        failed = await asyncio.wait_for(w.restore(snap), 60)
        took = time.monotonic() - started
        result = await w.run_cell("print(before, after, sum(k.startswith('g_') for k in globals()))")
    assert {name: why.split(" (")[0] for name, why in failed.items()} == {
        name: why.split(" (")[0] for name, (_, why) in BAD.items()
    }
    assert result.output == f"[1, 2, 3] {{'k': 'v'}} {20 * len(BAD)}\n"
    assert took < 3 * (SECONDS + 0.5) + 10.0


async def test_after_too_many_deaths_the_rest_is_given_up_and_named(tmp_path):
    blobs = {f"exit{i}": pickle.dumps(_Calls(os._exit, 3)) for i in range(MAX_RESTORE_DEATHS + 2)}
    blobs["good"] = pickle.dumps(7)
    async with Worker(tmp_path / "repl", SETTINGS) as w:
        failed = await asyncio.wait_for(w.restore(Snapshot(blobs)), 60)
        result = await w.run_cell("print('alive')")
    assert set(failed) == set(blobs)
    given_up = [n for n, why in failed.items() if why.startswith("the restore was given up")]
    assert sorted(given_up) == ["exit4", "good"]
    assert result.output == "alive\n"


async def test_a_restart_after_a_crash_skips_the_variables_that_would_end_it_again(tmp_path):
    """The real path: variables made by a cell, then the worker dies in a later cell."""
    async with Worker(tmp_path / "repl", SETTINGS) as w:
        made = await w.run_cell(
            "import os, time\n"
            "class Exits:\n    def __reduce__(self):\n        return os._exit, (3,)\n"
            "class Sleeps:\n    def __reduce__(self):\n        return time.sleep, (3600,)\n"
            "good = [1, 2]\nbad = Exits()\nslow = Sleeps()\n"
        )
        assert made.status == "ok"
        started = time.monotonic()
        crash = await asyncio.wait_for(w.run_cell("os._exit(1)"), 60)
        took = time.monotonic() - started
        after = await w.run_cell("print(good, 'bad' in globals(), 'slow' in globals())")
        again = await w.run_cell("os._exit(1)")  # a second crash does not meet them again
    assert crash.status == "crashed"
    note = crash.restart_note or ""
    assert "bad (its restore ended the worker)" in note
    assert f"slow (its restore took longer than {SECONDS:g} s)" in note
    assert after.output == "[1, 2] False False\n"
    assert took < SECONDS + 0.5 + 8.0
    assert "not restored: bad" not in (again.restart_note or "")
