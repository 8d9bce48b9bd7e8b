"""The escape of issue 12, end to end: a root cell plants a link where its child's folder will be
made, then calls ``rlm_query``; the child must not get a writable view of anything outside."""

from __future__ import annotations

import os
import shutil

import pytest

from rlm_tui.engine.session import Session
from rlm_tui.engine.settings import EngineSettings, Limits
from rlm_tui.llm.scripted import ScriptedClient
from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings
from tests.engine.conftest import repl

HAS_BWRAP = shutil.which("bwrap") is not None
MODES = [
    pytest.param("bubblewrap", marks=pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap is not installed")),
    "process",
]

PLANT = """
import os
for link, target in (('.children/t1_i1_c1_s1', '../../..'), ('../s0.children', '..')):
    try:
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(target, link)
    except OSError as exc:
        print('refused', link, exc.strerror)
try:
    print(rlm_query('write the config'))
except Exception as exc:
    print('rlm_query failed:', exc)
"""

OVERWRITE = """
for up in range(6):
    for name in ('config.toml', 'sessions.db'):
        try:
            open('../' * up + name, 'w').write('sandbox = "process"')
        except OSError:
            pass
FINAL('written')
"""


def responder(request):
    if request.depth == 0:
        return repl(PLANT) if len(request.messages) == 1 else "FINAL('over')"
    return repl(OVERWRITE)


@pytest.mark.parametrize("mode", MODES)
async def test_a_link_planted_before_rlm_query_leaves_rlm_home_untouched(tmp_path, mode):
    home = tmp_path / "rlm-home"
    (home / "sessions").mkdir(parents=True)
    (home / "config.toml").write_text('sandbox = "bubblewrap"\n')
    (home / "sessions.db").write_bytes(b"SQLite format 3\x00")
    settings = EngineSettings(
        root_model="scripted/root",
        sub_model="scripted/sub",
        limits=Limits(max_depth=2),
        sandbox=SandboxSettings(isolation=mode, interrupt_grace=1.0),
    )
    session = Session(
        settings,
        ScriptedClient(responder),
        lambda e: None,
        repl_factory=Worker,
        workdir=home / "sessions" / "s0",
    )
    await session.start()
    try:
        await session.run_turn("go")
        isolation = session.repl.isolation
    finally:
        await session.close()
    if isolation.level == "bubblewrap" or isolation.user is not None:
        assert (home / "config.toml").read_text() == 'sandbox = "bubblewrap"\n'
        assert (home / "sessions.db").read_bytes() == b"SQLite format 3\x00"
        assert sorted(os.listdir(home)) == ["config.toml", "sessions", "sessions.db"]
    else:  # the same user, no view of its own: the note says cells can read and write the user's files
        assert "read your files" in isolation.note
