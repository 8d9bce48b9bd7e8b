"""Starting and killing a worker process: its isolation, its socket, and its first message."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm_tui.errors import WorkerStartError
from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.env import worker_env
from rlm_tui.sandbox.process import Isolation, worker_command
from rlm_tui.sandbox.settings import SandboxSettings


@dataclass
class Launched:
    proc: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pid: int
    limits: dict[str, Any]


async def launch(workdir: Path, settings: SandboxSettings, isolation: Isolation) -> Launched:
    """Start a worker and wait for it to say it is ready; ``WorkerStartError`` says why not."""
    workdir.mkdir(parents=True, exist_ok=True)
    tmpdir = None
    if isolation.level == "bubblewrap":
        tmpdir = workdir / ".tmp"
        tmpdir.mkdir(exist_ok=True)
    parent, child = socket.socketpair()
    try:
        proc = await asyncio.create_subprocess_exec(
            *worker_command(settings, workdir, child.fileno(), isolation),
            pass_fds=(child.fileno(),),
            cwd=workdir,
            env=worker_env(tmpdir=str(tmpdir) if tmpdir else None),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        parent.close()
        raise WorkerStartError(f"the REPL worker could not be started: {exc.strerror or exc}") from None
    finally:
        child.close()
    try:
        reader, writer = await asyncio.open_unix_connection(sock=parent)
    except BaseException:
        await kill(proc)
        parent.close()
        raise
    try:
        msg, _ = await asyncio.wait_for(protocol.recv_stream(reader), settings.start_timeout)
    except BaseException as exc:
        if not isinstance(exc, asyncio.IncompleteReadError | TimeoutError | ConnectionError | ValueError):
            await kill(proc)  # cancelled while it starts (the user quit): nothing outlives us
            writer.close()
            raise
        err = b""
        with contextlib.suppress(Exception):
            proc.kill()
            if proc.stderr is not None:
                err = await asyncio.wait_for(proc.stderr.read(), 2)
        writer.close()
        detail = err.decode(errors="replace").strip()[-2000:] or type(exc).__name__
        raise WorkerStartError(f"the REPL worker failed to start: {detail}") from exc
    if msg.get("op") != protocol.READY or not isinstance(msg.get("pid"), int):
        await kill(proc)
        writer.close()
        raise WorkerStartError("the REPL worker's first message was not the one it should send")
    return Launched(proc, reader, writer, msg["pid"], dict(msg.get("limits") or {}))


async def kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the worker and everything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
