"""An attached file is read once: the worker hashes it while it loads it, and the host records that
digest without reading the file itself (issue 14: hashing never reads a file twice)."""

from __future__ import annotations

import gzip
import hashlib


def host_read_bytes() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def blake(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


async def test_a_file_is_hashed_by_the_read_that_loads_it(make_session, tmp_path):
    harness = await make_session()
    data = (b"a line of text for the record\n" * 400_000) + "é\n".encode()  # 12 MB
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    before = host_read_bytes()
    attachment = await harness.session.attach(path)
    host_read = host_read_bytes() - before
    assert attachment.digest == blake(data)
    assert attachment.disk_bytes == len(data)
    assert host_read < len(data) // 4  # the host never read the file through


async def test_a_large_file_and_a_compressed_one_record_the_digest_of_the_file_on_disk(
    make_session, tmp_path
):
    harness = await make_session()
    packed = tmp_path / "log.txt.gz"
    raw = b"x=1 y=2\n" * 50_000
    packed.write_bytes(gzip.compress(raw))
    attachment = await harness.session.attach(packed)
    assert attachment.digest == blake(packed.read_bytes())
    table = tmp_path / "rows.csv"
    table.write_bytes(b"a,b\n1,2\n3,4\n")
    attachment = await harness.session.attach(table, as_context=False)
    assert attachment.digest == blake(table.read_bytes())


async def test_a_parquet_context_reaches_a_child_rlm_as_its_rows(make_session, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.engine.conftest import repl

    def respond(request):
        if request.depth == 0:  # the root: one cell hands its whole table to a child
            return repl("FINAL(rlm_query('how many Paris rows?', context))")
        return repl("FINAL(str(sum(r['city'] == 'Paris' for r in context)) + ' ' + type(context).__name__)")

    harness = await make_session(responder=respond, max_depth=2)
    pq.write_table(pa.table({"city": ["Paris", "Lyon", "Paris"]}), tmp_path / "t.parquet")
    await harness.session.attach(tmp_path / "t.parquet")
    result = await harness.session.run_turn("count")
    assert result.answer == "2 list"
