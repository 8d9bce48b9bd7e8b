"""Shared fixtures. Real parts only: real worker processes, real files, a real model server.

The shared fixtures (trajectory logs, the llama.cpp wheel) are found through ``RLM_SHARED``
(default: ``../shared`` next to the repository); see tests/real_model.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import real_model


@pytest.fixture
def trajectories() -> Path:
    path = real_model.trajectories_dir()
    if not path.is_dir():
        pytest.skip(f"the shared trajectory fixtures are not present at {path} (set RLM_SHARED)")
    return path


@pytest.fixture(scope="session")
def llama_servers(tmp_path_factory) -> Iterator[Callable[[int], real_model.LlamaServer]]:
    """Start (once per window size) llama.cpp's server with SmolLM2-135M-Instruct. Skips only where
    the shared wheel is absent; where it is present, a server that will not start fails the test."""
    reason = real_model.absent_reason()
    if reason:
        pytest.skip(reason)
    if not real_model.GGUF.is_file():
        pytest.fail(f"the model file {real_model.GGUF} is missing: run `python -m tests.real_model install`")
    started: dict[int, real_model.LlamaServer] = {}
    logs = tmp_path_factory.mktemp("llama")

    def server(n_ctx: int) -> real_model.LlamaServer:
        if n_ctx not in started:
            started[n_ctx] = real_model.LlamaServer(n_ctx, logs / f"server-{n_ctx}.log").start()
        return started[n_ctx]

    try:
        yield server
    finally:
        for running in started.values():
            running.stop()


@pytest.fixture
def llama(llama_servers) -> real_model.LlamaServer:
    """The real model with a 4,096-token window."""
    return llama_servers(4096)
