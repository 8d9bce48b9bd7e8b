"""Attacks on the host through the worker's channel: model code writes its own frames to the
socket (its number is the worker's ``sys.argv[1]``) or through the worker's own channel object.

Each attack must end that worker at most (restarted with a notice, variables back), never the
host: no traceback, no host memory growth, nothing unchecked recorded, the cell's output within
the cap whatever the worker sends, and the cell timeout kept whatever the worker does.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings

MB = 1 << 20

# Model code: the channel's socket, raw frames, and the id of the request being served.
FORGE = """
import json, os, socket, struct, sys, time
raw = socket.socket(fileno=os.dup(int(sys.argv[1])))

def frame(msg, blobs=()):
    body = json.dumps(msg).encode()
    out = struct.pack('!II', len(body), len(blobs)) + body
    for b in blobs:
        out += struct.pack('!Q', len(b)) + b
    return out

def request_id():
    f = sys._getframe()
    while 'req_id' not in f.f_locals:
        f = f.f_back
    return f.f_locals['req_id']

def send(data):
    try:
        raw.sendall(data)
    except OSError:
        pass
"""


def host_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _worker_with_x(tmp_path, **settings) -> Worker:
    w = Worker(tmp_path / "repl", SandboxSettings(interrupt_grace=1.0, **settings))
    await w.start()
    assert (await w.run_cell("x = 41")).status == "ok"
    return w


async def _assert_restarted_with_x(w: Worker, result, *words: str) -> None:
    assert result.status == "crashed"
    assert result.restart_note is not None
    assert "the worker sent a malformed frame (" in result.restart_note
    for word in words:
        assert word in result.restart_note
    assert result.final is None
    after = await w.run_cell("print(x + 1)")
    assert after.status == "ok" and after.output == "42\n"


HUGE = {
    # what the frame announces (then 200 MB of it are streamed), the snapshot size limit, the notice
    "json-900MB": ("struct.pack('!II', 900 << 20, 0)", 256 * MB, "a JSON part of 943,718,400 bytes"),
    "json-3GB": ("struct.pack('!II', 3 << 30, 0)", 256 * MB, "a JSON part of 3,221,225,472 bytes"),
    "blob-3GB": (
        "struct.pack('!II', 10, 1) + b'{\"op\":\"x\"}' + struct.pack('!Q', 3 << 30)",
        256 * MB,
        "a blob of 3,221,225,472 bytes; the limit is 268,435,456",
    ),
    "blob-count": (
        "struct.pack('!II', 10, 4_000_000_000) + b'{\"op\":\"x\"}'",
        256 * MB,
        "4,000,000,000 blobs in one frame",
    ),
    "blob-total": (
        "struct.pack('!II', 10, 9) + b'{\"op\":\"x\"}' + (struct.pack('!Q', 1 << 20) + bytes(1 << 20)) * 4"
        " + struct.pack('!Q', 1 << 20)",
        1 * MB,
        "blobs of 5,242,880 bytes in one frame; the limit is 4,194,304",
    ),
}


@pytest.mark.parametrize("name", list(HUGE))
async def test_a_frame_announcing_gigabytes_ends_the_worker_not_the_host(tmp_path, name):
    head, snapshot_max, words = HUGE[name]
    w = await _worker_with_x(tmp_path, snapshot_max_bytes=snapshot_max)
    try:
        before = host_rss()
        cell = FORGE + f"send({head})\nfor _ in range(200):\n    send(bytes(1 << 20))\ntime.sleep(60)\n"
        result = await asyncio.wait_for(w.run_cell(cell, timeout=30), 40)
        grown = host_rss() - before
        await _assert_restarted_with_x(w, result, words)
        assert grown < 64 * MB, f"the host grew by {grown / MB:.0f} MB"
    finally:
        await w.close()


FORGED_REPLIES = {
    "snapshot-names-missing-variables": (
        "send(frame({'op': 'reply', 'id': request_id(), 'ok': True, 'status': 'ok', 'error': None,"
        " 'duration': 0.1, 'total_chars': 0, 'dropped_chars': 0, 'final': None,"
        " 'snapshot': {'changed': ['x', 'ghost'], 'removed': [], 'skipped': {}}}, [b'junk']))",
        "a snapshot naming 2 variable(s) with 1 blob(s)",
    ),
    "dict-answer-string-duration": (
        "send(frame({'op': 'reply', 'id': request_id(), 'ok': True, 'status': 'ok', 'error': None,"
        " 'duration': 'slow', 'total_chars': 0, 'dropped_chars': 0, 'final': {'answer': 42}}))",
        "duration is a str",
    ),
    "dict-answer": (
        "send(frame({'op': 'reply', 'id': request_id(), 'ok': True, 'status': 'ok', 'error': None,"
        " 'duration': 1.0, 'total_chars': 0, 'dropped_chars': 0, 'final': {'answer': 42}}))",
        "final is a dict",
    ),
    "unknown-status": (
        "send(frame({'op': 'reply', 'id': request_id(), 'ok': True, 'status': 'crashed-ish',"
        " 'duration': 1.0, 'total_chars': 0, 'dropped_chars': 0}))",
        "status is a str",
    ),
    "reply-to-no-request": (
        "send(frame({'op': 'reply', 'id': 10**9, 'ok': True}))",
        "a reply to no request in flight",
    ),
    "unknown-op": ("send(frame({'op': 'ready', 'pid': 1}))", "an unexpected 'ready' frame"),
    "not-json": ("send(struct.pack('!II', 4, 0) + b'\\xff{[,')", "the JSON part does not parse"),
    "output-to-stdin": (
        "send(frame({'op': 'output', 'cell': None, 'stream': 'stdin', 'text': 'hi'}))",
        "a stream other than stdout or stderr",
    ),
    "output-text-not-str": (
        "send(frame({'op': 'output', 'cell': None, 'stream': 'stdout', 'text': [1, 2]}))",
        "text is not a string",
    ),
    "call-without-id": ("send(frame({'op': 'call', 'fn': 'llm_query', 'args': {}}))", "a sub-call frame"),
}


@pytest.mark.parametrize("name", list(FORGED_REPLIES))
async def test_a_frame_out_of_the_protocol_restarts_the_worker_and_records_nothing_of_it(tmp_path, name):
    forged, words = FORGED_REPLIES[name]
    w = await _worker_with_x(tmp_path)
    try:
        result = await asyncio.wait_for(w.run_cell(FORGE + forged + "\ntime.sleep(60)\n", timeout=30), 40)
        await _assert_restarted_with_x(w, result, words)
        # nothing of a forged snapshot was kept
        assert "ghost" not in w.snapshot.blobs and b"junk" not in w.snapshot.blobs.values()
    finally:
        await w.close()


async def test_a_flood_of_forged_output_frames_stays_within_the_hosts_cap(tmp_path):
    """400 output frames of 1 MB each, sent through the worker's own channel (past its capture)."""
    cap = 1_000_000
    w = await _worker_with_x(tmp_path, output_cap_chars=cap)
    shown: list[str] = []
    try:
        before = host_rss()
        result = await asyncio.wait_for(
            w.run_cell(
                "ch = llm_query.__self__.channel\nblock = 'y' * 1_000_000\n"
                "for i in range(400):\n"
                "    ch.send({'op': 'output', 'cell': ch.running_cell, 'stream': 'stdout', 'text': block})\n"
                "print('the end')\n",
                on_output=lambda stream, text: shown.append(text),
                timeout=60,
            ),
            90,
        )
        grown = host_rss() - before
    finally:
        await w.close()
    assert result.status == "ok"
    assert len(result.output) <= cap + 200  # the cap, and the note of what was dropped
    assert result.output.endswith("the end\n")  # the tail is kept
    assert result.dropped_chars >= 399_000_000
    assert result.total_chars <= cap
    assert sum(len(t) for t in shown) <= cap  # nor does the live view get more
    assert grown < 64 * MB, f"the host grew by {grown / MB:.0f} MB"


async def test_a_300_mb_exception_message_is_cut_to_the_cap(tmp_path):
    cap = 1_000_000
    w = await _worker_with_x(tmp_path, output_cap_chars=cap)
    try:
        before = host_rss()
        result = await asyncio.wait_for(w.run_cell("raise ValueError('E' * 300_000_000)", timeout=60), 90)
        grown = host_rss() - before
        assert (await w.run_cell("print(x)")).output == "41\n"  # the same worker goes on
        assert w.restarts == 0
    finally:
        await w.close()
    assert result.status == "error"
    assert result.error is not None and result.error.startswith("Traceback")
    assert "characters cut" in result.error and result.error.rstrip().endswith("E")
    assert len(result.error) <= cap + 100
    assert len(result.output) <= cap + 200
    assert grown < 64 * MB, f"the host grew by {grown / MB:.0f} MB"


async def test_a_forged_reply_with_a_60_mb_error_is_clipped_by_the_host(tmp_path):
    """A well-formed reply the worker did not write: the host keeps the cap of its error text.
    The worker's own reply then answers no request: that worker is ended, and the next cells run
    in a new one with the variables back (the cell that meets the restart may be the one reported
    as crashed)."""
    cap = 1_000_000
    w = await _worker_with_x(tmp_path, output_cap_chars=cap)
    try:
        before = host_rss()
        forged = (
            "send(frame({'op': 'reply', 'id': request_id(), 'ok': True, 'status': 'error',"
            " 'error': 'F' * (60 << 20), 'duration': 0.1, 'total_chars': 0, 'dropped_chars': 0}))\n"
        )
        result = await asyncio.wait_for(w.run_cell(FORGE + forged, timeout=30), 40)
        grown = host_rss() - before
        later = [await w.run_cell("print(x)", timeout=30) for _ in range(2)]
    finally:
        await w.close()
    assert result.status == "error"
    assert result.error is not None and len(result.error) <= cap + 100
    assert grown < 200 * MB, f"the host grew by {grown / MB:.0f} MB"
    assert later[-1].output == "41\n"
    assert any("a reply to no request in flight" in (r.restart_note or "") for r in later)


async def test_a_cell_holding_the_interpreter_lock_while_answers_wait_still_times_out(tmp_path):
    """The worker stops reading (a regex holds the GIL) while megabytes of sub-call answers wait
    for it: the host's writes block, and the timeout must still end the cell on time."""
    w = await _worker_with_x(tmp_path)

    async def handler(req):
        return "z" * 200_000

    cell = (
        "import re\nch = llm_query.__self__.channel\n"
        "calls = [ch.call('llm_query', {'prompt': str(i), 'model': None}) for i in range(40)]\n"
        "re.match(r'(a+)+$', 'a' * 64 + 'b')\n"
    )
    try:
        started = time.monotonic()
        result = await asyncio.wait_for(w.run_cell(cell, timeout=1.0, on_call=handler), 30)
        took = time.monotonic() - started
        after = await w.run_cell("print(x)")
    finally:
        await w.close()
    assert result.status == "timeout"
    assert took < 1.0 + 1.0 + 4.0, f"the cell took {took:.1f} s to stop"
    assert result.restart_note is not None and "restored" in result.restart_note
    assert after.output == "41\n"


async def test_an_answer_larger_than_a_frame_is_cut_not_a_reason_to_restart(tmp_path):
    """The worker keeps its own replies within the host's limit: a 70 MB answer arrives cut
    (head and tail), a 70 MB value asked for by name is refused in one line."""
    from rlm_tui.errors import WorkerRefused

    w = await _worker_with_x(tmp_path)
    try:
        result = await w.run_cell("big = 'a' * (70 << 20) + 'END'\nFINAL(big)", timeout=60)
        with pytest.raises(WorkerRefused, match="the channel's limit is"):
            await w.render_value("big")
        assert (await w.run_cell("print(x, len(big))")).output == f"41 {(70 << 20) + 3}\n"
        assert w.restarts == 0
    finally:
        await w.close()
    assert result.status == "ok" and result.final is not None
    assert result.final.startswith("aaaa") and result.final.endswith("END")
    assert "characters cut" in result.final
    assert len(result.final) <= (64 << 20) // 8 + 100
