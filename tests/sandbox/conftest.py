from __future__ import annotations

import pytest

from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings


@pytest.fixture
async def worker(tmp_path):
    w = Worker(tmp_path / "repl", SandboxSettings(interrupt_grace=1.0))
    await w.start()
    yield w
    await w.close()
