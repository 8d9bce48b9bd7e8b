"""The REPL worker, run for real: cells, output, timeouts, interrupts, crashes, limits, secrets."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from rlm_tui.sandbox.host import Worker
from rlm_tui.sandbox.settings import SandboxSettings
from rlm_tui.sandbox.types import SubCallRejected


async def test_variables_persist_and_output_is_captured(worker):
    r1 = await worker.run_cell("x = 21\nprint('x is', x)\nimport sys\nprint('to stderr', file=sys.stderr)")
    assert r1.status == "ok"
    assert r1.output == "x is 21\nto stderr\n"
    assert r1.stdout == "x is 21\n"
    r2 = await worker.run_cell("print(x * 2)")
    assert r2.output == "42\n"


async def test_output_of_child_processes_and_c_level_writes_is_captured(worker):
    result = await worker.run_cell(
        "import os\nos.system('echo from-a-shell')\nos.write(1, b'raw fd write\\n')"
    )
    assert "from-a-shell\n" in result.output
    assert "raw fd write\n" in result.output


async def test_output_streams_to_the_host_while_the_cell_runs(worker):
    """The cell prints, then waits on a sub-call that only returns once the host has seen the print."""
    seen = asyncio.Event()

    def on_output(stream, text):
        if "first line" in text:
            seen.set()

    async def handler(req):
        await asyncio.wait_for(seen.wait(), 10)
        return "released"

    result = await worker.run_cell(
        "print('first line')\nprint(llm_query('wait for the host'))", on_output=on_output, on_call=handler
    )
    assert result.status == "ok"
    assert result.output == "first line\nreleased\n"


async def test_exception_shows_a_short_traceback_of_the_cell_only(worker):
    result = await worker.run_cell("def f(n):\n    return 10 / n\n\nvalue = f(0)")
    assert result.status == "error"
    assert 'File "<cell' in result.error
    assert "return 10 / n" in result.error
    assert "ZeroDivisionError: division by zero" in result.error
    assert "rlm_tui" not in result.error and "execute.py" not in result.error
    assert result.error in result.output  # the model sees it as the cell's stderr


async def test_syntax_error_is_reported_with_its_line(worker):
    result = await worker.run_cell("x = (1,\nprint(x")
    assert result.status == "error"
    assert "SyntaxError" in result.error


async def test_exit_does_not_end_the_repl(worker):
    await worker.run_cell("kept = 'yes'")
    result = await worker.run_cell("import sys\nsys.exit(3)")
    assert result.status == "error" and "SystemExit" in result.error
    assert (await worker.run_cell("print(kept)")).output == "yes\n"


async def test_timeout_stops_the_cell_not_the_repl(worker):
    await worker.run_cell("before = [1, 2, 3]")
    started = time.perf_counter()
    result = await worker.run_cell("import time\nprint('working')\ntime.sleep(60)", timeout=0.5)
    assert result.status == "timeout"
    assert time.perf_counter() - started < 5
    assert "timeout" in result.output
    assert (await worker.run_cell("print(before)")).output == "[1, 2, 3]\n"
    assert worker.restarts == 0


async def test_interrupt_stops_the_running_cell_and_keeps_variables(worker):
    await worker.run_cell("kept = {'a': 1}")
    started = asyncio.Event()
    task = asyncio.create_task(
        worker.run_cell(
            "print('started')\nimport time\nfor _ in range(600):\n    time.sleep(0.1)",
            on_output=lambda s, t: started.set(),
        )
    )
    await asyncio.wait_for(started.wait(), 10)
    assert await worker.interrupt()
    result = await asyncio.wait_for(task, 10)
    assert result.status == "interrupted"
    assert "interrupted" in result.output
    assert (await worker.run_cell("print(kept)")).output == "{'a': 1}\n"


async def test_a_cell_that_swallows_interrupts_is_killed_and_the_repl_restored(worker):
    await worker.run_cell("def double(v):\n    return v * factor\nfactor = 2")
    code = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass"
    result = await worker.run_cell(code, timeout=0.3)
    assert result.status == "timeout"
    assert "restarted" in result.restart_note
    assert (await worker.run_cell("print(double(21))")).output == "42\n"


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        ("import os\nos._exit(7)", "exited with code 7"),
        ("import ctypes\nctypes.string_at(0)", "SIGSEGV"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
    ],
)
async def test_a_dead_worker_is_restarted_with_its_variables(worker, code, cause):
    await worker.run_cell(
        "import re\nnotes = {'k': [1, 2]}\nclass Box:\n    def __init__(self, v):\n        self.v = v\n"
        "box = Box(5)\ndef uses_globals():\n    return notes['k'] + [box.v, re.sub('a', 'b', 'aa')]"
    )
    result = await worker.run_cell(code)
    assert result.status == "crashed"
    assert cause in result.restart_note
    assert "restored" in result.restart_note
    shown, _ = result.for_model(20_000)
    assert cause in shown
    after = await worker.run_cell("print(uses_globals())")
    assert after.output == "[1, 2, 5, 'bb']\n"
    assert worker.restarts == 1


async def test_worker_environment_holds_no_secrets(tmp_path, monkeypatch):
    secrets = {
        "ANTHROPIC_API_KEY": "sk-ant-secret-1",
        "OPENAI_API_KEY": "sk-secret-2",
        "GITHUB_TOKEN": "ghp_secret3",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-4",
        "DB_PASSWORD": "hunter2-secret",
        "GOOGLE_APPLICATION_CREDENTIALS": "/secret/creds.json",
        "RLM_SOMETHING": "config-not-for-the-worker",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    async with Worker(tmp_path) as w:
        result = await w.run_cell(
            "import os\nprint(sorted(os.environ))\nprint(open('/proc/self/environ', 'rb').read().decode(errors='replace'))"
        )
    for name, value in secrets.items():
        assert name not in result.output
        assert value not in result.output
    assert "PATH" in result.output


async def test_rlimits_cap_memory_and_processes(tmp_path):
    settings = SandboxSettings(memory_bytes=1 << 30, max_processes=16)
    async with Worker(tmp_path, settings) as w:
        limits = await w.run_cell(
            "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0])\n"
            "print(resource.getrlimit(resource.RLIMIT_NPROC)[0])"
        )
        as_limit, nproc = (int(v) for v in limits.output.split())
        assert as_limit == 1 << 30
        assert 16 <= nproc < 100_000
        blowup = await w.run_cell("big = bytearray(3 << 30)")
        assert blowup.status == "error" and "MemoryError" in blowup.error
        assert (await w.run_cell("print('still here')")).output == "still here\n"


async def test_output_is_capped_and_the_rest_counted(tmp_path):
    async with Worker(tmp_path, SandboxSettings(output_cap_chars=1_000_000)) as w:
        result = await w.run_cell("print('x' * 2_500_000, end='')")
    assert result.total_chars == 1_000_000
    assert result.dropped_chars == 1_500_000
    assert len(result.output) == 1_000_000
    shown, truncated = result.for_model(20_000)
    assert truncated
    assert "980,000 characters cut" in shown
    assert "1,500,000 more characters were not captured" in shown


async def test_top_level_await_and_plain_calls_both_work(worker):
    async def handler(req):
        return f"<{req.args['prompt']}>"

    result = await worker.run_cell("a = llm_query('sync')\nprint(type(a).__name__, a)", on_call=handler)
    assert result.output == "str <sync>\n"
    result = await worker.run_cell("b = await llm_query('awaited')\nprint(b.upper())", on_call=handler)
    assert result.output == "<AWAITED>\n"
    result = await worker.run_cell(
        "import asyncio\ntask = asyncio.create_task(llm_query('task'))\nprint(await task)", on_call=handler
    )
    assert result.output == "<task>\n"
    # A call left unawaited in an async cell still ends up as its value.
    result = await worker.run_cell("c = llm_query('later')\nd = await llm_query('now')", on_call=handler)
    assert (await worker.run_cell("print(type(c).__name__, c, d)")).output == "str <later> <now>\n"


async def test_gathered_sub_calls_run_concurrently(worker):
    async def handler(req):
        await asyncio.sleep(0.2)
        return req.args["prompt"].upper()

    started = time.perf_counter()
    result = await worker.run_cell(
        "import asyncio\nout = await asyncio.gather(*(llm_query(f'p{i}') for i in range(10)))\nprint(out)",
        on_call=handler,
    )
    elapsed = time.perf_counter() - started
    assert result.output == str([f"P{i}" for i in range(10)]) + "\n"
    assert elapsed < 1.0, f"10 sub-calls of 200 ms took {elapsed:.2f} s: not concurrent"


async def test_sub_call_errors_raise_typed_exceptions_in_the_cell(worker):
    async def handler(req):
        raise SubCallRejected(
            "the prompt is about 9,000 tokens but m accepts at most 100 tokens", "ContextWindowError"
        )

    result = await worker.run_cell(
        "try:\n    llm_query('x' * 36000)\nexcept ContextWindowError as e:\n    print('caught:', e)",
        on_call=handler,
    )
    assert result.output.startswith("caught: the prompt is about 9,000 tokens")
    result = await worker.run_cell(
        "try:\n    llm_query('x')\nexcept ValueError as e:\n    print(type(e).__name__, '|', e)",
        on_call=handler,
    )
    assert result.output.startswith("ContextWindowError | the prompt is about 9,000 tokens")


async def test_reserved_names_are_restored_after_each_cell(worker):
    async def handler(req):
        return "ok"

    await worker.set_vars(history=[{"role": "user", "content": "hi", "turn": 1}])
    result = await worker.run_cell(
        "llm_query = None\nhistory = 'gone'\nmemory = 5\nFINAL = print", on_call=handler
    )
    assert "`llm_query` is reserved" in result.output
    assert "`memory` must stay a dict" in result.output
    after = await worker.run_cell(
        "print(llm_query('q'), history[0]['content'], type(memory).__name__)", on_call=handler
    )
    assert after.output == "ok hi dict\n"


async def test_final_forms(worker):
    assert (await worker.run_cell("FINAL('plain')")).final == "plain"
    assert (
        await worker.run_cell("result = {'a': [1, 2]}\nFINAL_VAR('result')")
    ).final == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert (await worker.run_cell("FINAL_VAR(['x', 'y'])")).final == '[\n  "x",\n  "y"\n]'
    missing = await worker.run_cell("FINAL_VAR('nope')")
    assert missing.final is None and "no variable named 'nope'" in missing.error
    ready = await worker.run_cell("answer['content'] = 'from answer'\nanswer['ready'] = True", new_turn=True)
    assert ready.final == "from answer"
    assert (await worker.run_cell("print(1)", new_turn=True)).final is None


async def test_snapshot_names_what_cannot_be_pickled_and_restores_the_rest(tmp_path):
    async with Worker(tmp_path / "a") as first:
        await first.run_cell(
            "import threading\nlock = threading.Lock()\ngen = (i for i in range(3))\n"
            "data = list(range(5))\ndef total():\n    return sum(data)\nmemory['seen'] = True"
        )
        snap = await first.take_snapshot()
    assert set(snap.skipped) == {"lock", "gen"}
    assert "cannot be pickled" in snap.skipped["lock"]
    assert {"data", "total", "memory", "threading"} <= set(snap.blobs)
    async with Worker(tmp_path / "b") as second:
        failed = await second.restore(snap)
        assert failed == {}
        result = await second.run_cell("data.append(10)\nprint(total(), memory)")
        assert result.output == "20 {'seen': True}\n"


async def test_only_changed_variables_are_sent_after_a_cell(worker):
    await worker.run_cell("big = 'x' * 5_000_000\nsmall = [1]")
    first = dict(worker.snapshot.blobs)
    await worker.run_cell("small.append(2)")
    assert worker.snapshot.blobs["big"] is first["big"]  # not re-pickled: same object, immutable
    assert worker.snapshot.blobs["small"] is not first["small"]  # mutated in place: re-pickled


async def test_load_file_reads_from_disk_in_the_worker(worker, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("line one\nline two\n")
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.py").write_text("print('a')\n")
    (folder / "blob.bin").write_bytes(b"\x00\x01binary")
    info = await worker.load_file("notes.txt", text)
    assert (info["type"], info["size"]) == ("str", 18)
    assert info["digest"] == hashlib.blake2b(text.read_bytes(), digest_size=16).hexdigest()
    await worker.load_file("src", folder, as_context=False)
    result = await worker.run_cell("print(repr(context)); print(sorted(files)); print(files['src'])")
    assert result.output == (
        "'line one\\nline two\\n'\n['notes.txt', 'src']\n{'a.py': \"print('a')\\n\", 'blob.bin': b'\\x00\\x01binary'}\n"
    )


async def test_variable_table(worker):
    await worker.set_vars(history=[])
    await worker.run_cell("text = 'a' * 1000\nnums = list(range(100000))\ndef helper(a, b=2):\n    pass")
    table, rows = await worker.var_table()
    by_name = {r["name"]: r for r in rows}
    assert by_name["text"]["size"] == "1,000 chars"
    assert len(by_name["text"]["preview"]) <= 201
    assert by_name["nums"]["size"] == "100,000 items"
    assert by_name["helper"]["preview"] == "def helper(a, b=2)"
    assert "llm_query" not in by_name
    assert table.splitlines()[0] == "| name | type | size | preview |"
