"""Files of any size: a large text stays in its file (BigText), tables and .gz are what they hold,
and snapshots hold attached files by reference."""

from __future__ import annotations

import asyncio
import gzip
import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlm_tui.errors import WorkerRefused
from rlm_tui.sandbox.worker import bigtext, files, textfile
from rlm_tui.sandbox.worker.bigtext import BigText
from rlm_tui.sandbox.worker.namespace import _pickle
from rlm_tui.sandbox.worker.snapshot import Snapshotter
from rlm_tui.sandbox.worker.tables import Table

MB = 1 << 20
ALPHABET = "ab \né€😀"  # 1-, 2-, 3- and 4-byte characters, line ends


def _big(tmp_path, text: str, block: int = 5, name: str = "t.txt") -> BigText:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    fh = open(path, "rb")  # noqa: SIM115 -- the BigText reads from it until the test ends
    big = BigText(fh.fileno(), name, ("t", ""), block=block)
    big.held = fh  # closed when the BigText goes
    return big


@pytest.fixture
def small_windows(monkeypatch):
    """Windows of a few bytes: every search crosses many window borders."""
    monkeypatch.setattr(bigtext, "WINDOW", 16)
    monkeypatch.setattr(bigtext, "CONTEXT", 8)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(ALPHABET, max_size=300),
    block=st.integers(1, 9),
    bounds=st.lists(st.integers(-310, 310), min_size=2, max_size=2),
    sub=st.text(ALPHABET, max_size=4),
)
def test_big_text_answers_as_the_str_does(tmp_path_factory, text, block, bounds, sub):
    tmp = tmp_path_factory.mktemp("b")
    old = bigtext.WINDOW, bigtext.CONTEXT
    bigtext.WINDOW, bigtext.CONTEXT = 16, 8
    try:
        big = _big(tmp, text, block)
        i, j = bounds
        assert len(big) == len(text)
        assert big[i:j] == text[i:j] and big[i:j:-2] == text[i:j:-2]
        if -len(text) <= i < len(text):
            assert big[i] == text[i]
        assert big.find(sub, i, j) == text.find(sub, i, j)
        assert big.rfind(sub, i, j) == text.rfind(sub, i, j)
        assert big.count(sub, i, j) == text.count(sub, i, j)
        assert big.startswith(sub, i) == text.startswith(sub, i)
        assert big.endswith(sub, None, j) == text.endswith(sub, None, j)
        assert (sub in big) == (sub in text)
        for pattern in ("é+a", "^b", "😀$", r"\bab", "(?<=€)a", "(a)(b)?"):
            expected = [m.span() for m in re.finditer(pattern, text, re.M)]
            assert [m.span() for m in big.finditer(pattern, re.M)] == expected
        assert big.findall("(a)b") == re.findall("(a)b", text)
        assert list(big.lines()) == text.splitlines()
        assert list(big.lines(keepends=True)) == text.splitlines(True)
        assert "".join(big.chunks(3)) == text
    finally:
        bigtext.WINDOW, bigtext.CONTEXT = old


def test_a_match_across_window_borders_is_found_with_file_positions(tmp_path, small_windows):
    text = "x" * 100 + "BEGIN-" + "é" * 40 + "-END" + "y" * 100
    big = _big(tmp_path, text, block=4)
    m = big.search(r"BEGIN-é+-END")
    assert m is not None and m.span() == (100, 150) and m.group() == text[100:150]
    assert big.search("nowhere") is None
    assert big.index("-END") == 146
    with pytest.raises(ValueError):
        big.index("nowhere")


def test_str_of_a_huge_text_is_refused_with_a_line_that_says_to_slice(tmp_path, monkeypatch):
    big = _big(tmp_path, "abc\n" * 100)
    monkeypatch.setattr(bigtext, "MAX_TEXT", 50)
    with pytest.raises(MemoryError, match=r"400 characters is refused.*slice"):
        str(big)
    with pytest.raises(AttributeError, match=r"str\.upper on all of it is refused; slice it"):
        big.upper()
    assert big[:8].upper() == "ABC\nABC\n"  # a slice is a str
    monkeypatch.setattr(bigtext, "MAX_TEXT", 1000)
    assert big.split("\n")[:2] == ["abc", "abc"]  # small enough: str methods work on the text


def test_a_child_gets_the_text_of_a_file_backed_context(tmp_path):
    big = _big(tmp_path, "héllo " * 10)
    assert pickle.loads(_pickle(big)) == "héllo " * 10


def test_a_big_value_is_skipped_before_it_is_pickled(monkeypatch):
    snap = Snapshotter(max_bytes=MB)
    pickled = []
    real = snap._pickle

    def tracked(value):
        pickled.append(value)
        return real(value)

    monkeypatch.setattr(snap, "_pickle", tracked)
    half = "y" * (MB // 2)
    values = {
        "s": "x" * (2 * MB),
        "parts": [half + str(i) for i in range(3)],
        "d": {"k": b"z" * (2 * MB)},
        "same": [half] * 3,  # one string three times: pickled once, it fits
    }
    changed, _, skipped = snap.delta(values)
    assert set(skipped) == {"s", "parts", "d"}
    assert all("too large to snapshot (at least" in why for why in skipped.values())
    assert pickled == [values["same"]]  # the others were never pickled
    assert set(changed) == {"same"}


def test_gz_is_attached_as_its_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the worker puts the decompressed file (its session folder)
    text = "line é\n" * 1000
    (tmp_path / "log.txt.gz").write_bytes(gzip.compress(text.encode()))
    assert _load(tmp_path / "log.txt.gz") == text
    monkeypatch.setattr(textfile, "BIG_BYTES", 1000)  # now it is "large": it stays in a file
    big = _load(tmp_path / "log.txt.gz")
    assert isinstance(big, BigText) and len(big) == len(text) and big.count("é") == 1000
    assert list(tmp_path.iterdir()) == [tmp_path / "log.txt.gz"]  # the scratch copy is unlinked
    (tmp_path / "fake.gz").write_bytes(b"\x00not gzip")
    assert _load(tmp_path / "fake.gz") == b"\x00not gzip"


def _load(path):
    import os

    return files.load_fd(os.open(path, os.O_RDONLY), path.name, (path.name, ""))


def test_csv_and_jsonl_are_tables_of_rows(tmp_path):
    (tmp_path / "t.csv").write_text("city,n\nParis,3\nLyon,5\nParis,7\n")
    table = _load(tmp_path / "t.csv")
    assert isinstance(table, Table)
    assert table.columns == ["city", "n"] and len(table) == 3
    assert [r["n"] for r in table.filter(city="Paris")] == ["3", "7"]
    assert table[1] == {"city": "Lyon", "n": "5"} and table[-1]["n"] == "7"
    assert table.split("\n")[0] == "city,n"  # code written for the str still works
    (tmp_path / "t.jsonl").write_text('{"a": 1}\n\n{"a": 2, "b": [1]}\n')
    rows = _load(tmp_path / "t.jsonl")
    assert rows.columns == ["a", "b"] and list(rows) == [{"a": 1}, {"a": 2, "b": [1]}]
    assert rows.filter(lambda r: r["a"] > 1) == [{"a": 2, "b": [1]}]
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2: not JSON"):
        list(_load(tmp_path / "bad.jsonl"))


def test_formats_without_their_library_attach_as_bytes_and_say_so(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "NOT_INSTALLED", {".zst": "zstandard"})
    (tmp_path / "x.zst").write_bytes(b"\x28\xb5\x2f\xfd\x00\x01")
    content = _load(tmp_path / "x.zst")
    assert isinstance(content, bytes)
    assert "zstandard is not installed here" in files.describe_content("x.zst", content)


# -- through the real worker ---------------------------------------------------------------


def _write_big(path, size: int, needle: str) -> int:
    """A text of about ``size`` bytes (ASCII and 2-byte characters) with ``needle`` near the end;
    returns the needle's character position."""
    line = "ordinary log line, nothing here: é\n"  # 35 chars, 36 bytes
    block = line * (MB // len(line.encode()))
    chars = 0
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(size // len(block.encode())):
            fh.write(block)
            chars += len(block)
        fh.write("tail " + needle + " end\n")
    return chars + 5


async def test_a_large_file_is_searched_and_snapshotted_by_reference(worker, tmp_path):
    path = tmp_path / "big.log"
    at = _write_big(path, 70 * MB, "NEEDLE-42")
    await worker.load_file("big.log", path)
    result = await worker.run_cell(
        "src = context\n"
        "print(type(context).__name__, len(context), context.find('NEEDLE-42'), "
        "context.search(r'NEEDLE-\\d+').start(), context.count('é'), context[-9:-1])"
    )
    expected_len = at + len("NEEDLE-42 end\n")
    lines = (at - 5) // 35
    assert result.output == f"BigText {expected_len} {at} {at} {lines} E-42 end\n"
    assert len(worker.snapshot.blobs["src"]) < 1024
    crash = await worker.run_cell("import os\nos._exit(3)")
    assert crash.status == "crashed" and worker.restarts == 1
    after = await worker.run_cell("print(type(src).__name__, len(src), src is context)")
    assert after.output == f"BigText {expected_len} True\n"
    hooked = await worker.run_cell(
        "import re\nprint(re.findall(r'NEEDLE-\\d+', src), re.search('NEEDLE', src).start(), "
        "re.match('ordinary', src).end(), re.findall('b+', 'abba'))"
    )
    assert hooked.output == f"['NEEDLE-42'] {at} 8 ['bb']\n"  # re's functions take the file too


async def test_worker_memory_stays_small_while_searching_a_1_gb_file(worker, tmp_path):
    path = tmp_path / "huge.log"
    at = _write_big(path, 1 << 30, "NEEDLE-7")
    size = path.stat().st_size
    loading = asyncio.ensure_future(worker.load_file("huge.log", path))
    seen = []  # how far the load has read, as the host's gauge says while it runs
    while not loading.done():
        gauge = worker.load_progress()
        if gauge is not None:
            seen.append(gauge)
        await asyncio.wait([loading], timeout=0.02)  # a poll, not a wait for anything
    await loading
    assert worker.load_progress() is None  # the load is over: no gauge left
    assert all(total == size and 0 <= done <= size for done, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # it only moves forward
    assert any(0 < done < size for done, _ in seen), seen[:3]  # the app and rlm ask show it moving
    result = await worker.run_cell(
        "m = context.search('NEEDLE-7')\n"
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "print(context.find('NEEDLE-7'), m.start(), int(hwm.split()[1]) // 1024)"
    )
    found, matched, peak_mb = result.output.split()
    assert int(found) == int(matched) == at
    assert int(peak_mb) < 200, f"the worker peaked at {peak_mb} MB"


async def test_tables_and_gz_through_the_worker(worker, tmp_path):
    (tmp_path / "people.csv").write_text("name,age\nAda,36\nAlan,41\n")
    info = await worker.load_file("people.csv", tmp_path / "people.csv")
    assert info["type"] == "Table"
    result = await worker.run_cell("print(len(context), context.columns, context.filter(name='Alan'))")
    assert result.output == "2 ['name', 'age'] [{'name': 'Alan', 'age': '41'}]\n"
    table, _ = await worker.var_table()
    assert "| context | Table | 24 bytes | the attached table 'people.csv' (csv, 24 bytes)" in table
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"bonjour\n" * 3))
    await worker.load_file("notes.txt.gz", tmp_path / "notes.txt.gz")
    result = await worker.run_cell("print(repr(context))")
    assert result.output == repr("bonjour\n" * 3) + "\n"
    (tmp_path / "cut.txt.gz").write_bytes(gzip.compress(b"x" * 1000)[:-12])
    with pytest.raises(WorkerRefused, match=r"cut\.txt\.gz is truncated"):
        await worker.load_file("cut.txt.gz", tmp_path / "cut.txt.gz")
    result = await worker.run_cell("print(len(context))")
    assert result.output == "24\n"  # the REPL goes on with what it had


def test_the_load_gauge_is_the_shared_offset_and_a_worker_that_moves_it_only_moves_a_gauge(tmp_path):
    import os
    import socket

    from rlm_tui.sandbox.fdpass import Attachment

    path = tmp_path / "data.txt"
    path.write_text("x" * 1000)
    attachment = Attachment.open(str(path))
    host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with host_end, worker_end:
        assert attachment.read_so_far() is None  # nothing sent yet
        attachment.send(host_end)
        _, fds, _, _ = socket.recv_fds(worker_end, 65536, 8)
        (theirs,) = fds
        try:
            assert attachment.read_so_far() == (0, 1000)
            os.lseek(theirs, 250, os.SEEK_SET)  # the worker reads a quarter
            assert attachment.read_so_far() == (250, 1000)
            os.lseek(theirs, 10**12, os.SEEK_SET)  # a worker that lies about how far it got
            assert attachment.read_so_far() == (1000, 1000)
            attachment.done()
            assert attachment.read_so_far() is None
        finally:
            os.close(theirs)
