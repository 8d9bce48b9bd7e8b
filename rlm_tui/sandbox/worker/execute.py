"""Running one cell: compile (top-level await allowed), execute, report a short traceback
(its head and tail, whatever the size of the exception's message).

A cell that uses ``await`` at top level compiles to a coroutine and runs on a fresh event loop;
other cells run with plain ``exec``. Either way the cell's code is registered with linecache, so
tracebacks and ``inspect.getsource`` show the model its own lines.
"""

from __future__ import annotations

import ast
import linecache
import sys
import time
import traceback
from typing import Any

from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.worker.asyncpos import mark_value_calls
from rlm_tui.sandbox.worker.capture import CaptureStream, OutputCapture
from rlm_tui.sandbox.worker.channel import Channel

CO_COROUTINE = 0x0080  # inspect.CO_COROUTINE, without importing inspect at start-up
CELL_FILE_PREFIX = "<cell"
CELL_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
ERROR_CHARS = 100_000  # of a traceback: a 300 MB exception message must not make a 300 MB frame


def compile_cell(code: str, filename: str = "<cell>") -> Any:
    """Compile model code the way the worker runs it (raises SyntaxError as the worker would).

    In cells that use ``await``, sub-calls used as plain values are marked to wait for their
    result (see asyncpos); the rest compiles as written.
    """
    tree = mark_value_calls(ast.parse(code, filename, "exec"))
    return compile(tree, filename, "exec", flags=CELL_FLAGS, dont_inherit=True)


def short_traceback(exc: BaseException) -> str:
    """The exception with only the frames of the model's own cells."""
    te = traceback.TracebackException.from_exception(exc)
    _keep_cell_frames(te, set())
    return "".join(te.format())


def _keep_cell_frames(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if f.filename.startswith(CELL_FILE_PREFIX)]
    )
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _keep_cell_frames(linked, seen)


def _run_coroutine(coro: Any) -> None:
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(coro)
    finally:
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def run_cell(
    globals_: dict[str, Any], channel: Channel, capture: OutputCapture, cell_id: str, code: str, filename: str
) -> dict[str, Any]:
    """Execute one cell; return its status, error text and duration."""
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    capture.begin(cell_id)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = CaptureStream(capture, "stdout"), CaptureStream(capture, "stderr")
    status, error = "ok", None
    started = time.perf_counter()
    channel.running_cell = cell_id
    try:
        try:
            compiled = compile_cell(code, filename)
            if compiled.co_flags & CO_COROUTINE:
                _run_coroutine(eval(compiled, globals_))
            else:
                exec(compiled, globals_)
        except KeyboardInterrupt:
            status = "interrupted"
        except SystemExit:
            status = "error"
            error = "SystemExit: the cell called exit(); the REPL keeps running and keeps its variables.\n"
        except BaseException as exc:
            status = "error"
            error = protocol.clip(short_traceback(exc), min(ERROR_CHARS, max(capture.cap_chars, 1000)))
    except KeyboardInterrupt:  # an interrupt that landed while handling the cell's own exception
        status = "interrupted"
    # From here on an interrupt is ignored (the SIGINT handler checks running_cell).
    while True:
        try:
            channel.running_cell = None
            break
        except KeyboardInterrupt:
            status = "interrupted"
    duration = time.perf_counter() - started
    sys.stdout, sys.stderr = saved
    if error:
        capture.write("stderr", error)
    return {"status": status, "error": error, "duration": duration}
