"""Attached .zst, Parquet and PDF files are what they hold, through the real worker; their
libraries are imported only when such a file is attached."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from rlm_tui.errors import WorkerRefused


def _pdf(text: str) -> bytes:
    """A one-page PDF that shows ``text`` (built by hand: the xref offsets computed)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


async def test_a_plain_text_file_imports_none_of_the_libraries(worker, tmp_path):
    (tmp_path / "a.txt").write_text("hello\n")
    await worker.load_file("a.txt", tmp_path / "a.txt")
    result = await worker.run_cell(
        "import sys\nprint(context, [m for m in ('pyarrow', 'pypdf', 'zstandard') if m in sys.modules])"
    )
    assert result.output == "hello\n []\n"


async def test_zst_is_attached_as_what_it_holds(worker, tmp_path):
    packed = zstandard.ZstdCompressor().compress(b"bonjour\n" * 3)
    (tmp_path / "notes.txt.zst").write_bytes(packed)
    info = await worker.load_file("notes.txt.zst", tmp_path / "notes.txt.zst")
    assert info["type"] == "str"
    result = await worker.run_cell("print(repr(context))")
    assert result.output == repr("bonjour\n" * 3) + "\n"
    (tmp_path / "rows.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(b"a,b\n1,2\n"))
    info = await worker.load_file("rows.csv.zst", tmp_path / "rows.csv.zst")
    assert info["type"] == "Table"
    (tmp_path / "cut.txt.zst").write_bytes(packed[:-4])
    with pytest.raises(WorkerRefused, match=r"cut\.txt\.zst is truncated"):
        await worker.load_file("cut.txt.zst", tmp_path / "cut.txt.zst")
    (tmp_path / "fake.zst").write_bytes(b"\x00not zstd")
    info = await worker.load_file("fake.zst", tmp_path / "fake.zst")
    assert info["type"] == "bytes"


async def test_parquet_is_a_table_of_rows(worker, tmp_path):
    table = pa.table({"city": ["Paris", "Lyon", "Paris", "Nice"], "n": [3, 5, 7, 9]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    info = await worker.load_file("t.parquet", tmp_path / "t.parquet")
    assert info["type"] == "ParquetTable"
    result = await worker.run_cell(
        "print(len(context), context.columns, context[2], context[-1]['n'], context.head(1))\n"
        "print(context.filter(city='Paris'), context.filter(lambda r: r['n'] > 6, city='Paris'))\n"
        "print(context.column('n'), [r['city'] for r in context])"
    )
    assert result.output.splitlines() == [
        "4 ['city', 'n'] {'city': 'Paris', 'n': 7} 9 [{'city': 'Paris', 'n': 3}]",
        "[{'city': 'Paris', 'n': 3}, {'city': 'Paris', 'n': 7}] [{'city': 'Paris', 'n': 7}]",
        "[3, 5, 7, 9] ['Paris', 'Lyon', 'Paris', 'Nice']",
    ]
    vars_, _ = await worker.var_table()
    assert (
        "| context | ParquetTable | 4 rows | the attached table 't.parquet' (parquet, 4 rows, 2 columns"
        in vars_
    )


async def test_pdf_is_its_pages_text_and_a_corrupt_one_is_bytes(worker, tmp_path):
    (tmp_path / "doc.pdf").write_bytes(_pdf("Hello from page one"))
    info = await worker.load_file("doc.pdf", tmp_path / "doc.pdf")
    assert info["type"] == "PdfText"
    result = await worker.run_cell(
        "print(len(context), 'Hello from page one' in context[0], "
        "'Hello from page one' in context.text, [type(p).__name__ for p in context])"
    )
    assert result.output == "1 True True ['str']\n"
    vars_, _ = await worker.var_table()
    assert "| context | PdfText | 1 page | the attached PDF 'doc.pdf', 1 pages" in vars_
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\n\x00\x01 not really a pdf")
    info = await worker.load_file("bad.pdf", tmp_path / "bad.pdf")
    assert info["type"] == "bytes"
    vars_, _ = await worker.var_table()
    assert "it could not be parsed, so it is attached as bytes" in vars_
    assert "Traceback" not in vars_
