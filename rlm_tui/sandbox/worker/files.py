"""Loading attached files and folders inside the worker, from descriptors the host opened.

The worker may see none of the user's paths (under bubblewrap it sees only its session folder),
so the host opens each file, checks it is a regular one, and passes the open descriptor on the
files socket (``sandbox.fdpass``). A file of gigabytes still never passes through the host or a
prompt. A text file becomes a str, or over ``BIG_BYTES`` a ``bigtext.BigText`` read from the
descriptor on demand; a CSV/JSONL file a ``tables.Table``, a Parquet file a
``parquet.ParquetTable``, a PDF a ``pdftext.PdfText`` (their libraries imported only then); a ``.gz`` or ``.zst`` file is decompressed (streamed)
into an unlinked file in the session folder and attached as what it holds; a binary file becomes
bytes; a folder becomes a dict of relative path -> content for the files under it (hidden entries
skipped by the host). Objects backed by a descriptor are registered under (attachment name, file
name) so a snapshot can hold them by reference (``bigtext.by_reference``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from typing import Any

from rlm_tui.sandbox.worker import bigtext, tables
from rlm_tui.sandbox.worker.textfile import DIGESTS, SNIFF, digest_fd, hasher, is_binary, text_of

# A format whose library is missing here is attached as bytes, and the model told so. find_spec
# looks for the library without importing it: it is imported only when such a file is attached.
NOT_INSTALLED = {
    ext: lib
    for ext, lib in {".zst": "zstandard", ".parquet": "pyarrow", ".pdf": "pypdf"}.items()
    if importlib.util.find_spec(lib) is None
}


def load_fd(fd: int, name: str = "", key: tuple[str, str] = ("", "")) -> Any:
    """One attached file from its descriptor. The descriptor is closed, unless the object returned
    reads from it (a large text, a table)."""
    lower = name.lower()
    if lower.endswith(".gz"):
        return _gunzip(fd, name[:-3], key)
    if lower.endswith(".zst") and ".zst" not in NOT_INSTALLED:
        return _gunzip(fd, name[:-4], key, zst=True)
    suffix = os.path.splitext(lower)[1]
    if suffix in (".pdf", ".parquet") and suffix not in NOT_INSTALLED:
        rich = _rich(fd, name, key, suffix)
        if rich is not None:
            return rich
    if suffix in tables.KINDS and not is_binary(os.pread(fd, SNIFF, 0)):
        digest_fd(fd, key)
        table = tables.Table(fd, name, tables.KINDS[suffix], key)
        bigtext.register(key, table)
        return table
    return text_of(fd, name, key)


def _rich(fd: int, name: str, key: tuple[str, str], suffix: str) -> Any:
    """A PDF as its pages' text, a Parquet file as a table; None when the file cannot be parsed
    (the caller attaches its bytes, and ``describe_content`` says why)."""
    if suffix == ".pdf":
        from rlm_tui.sandbox.worker import pdftext

        content = pdftext.load(fd, name)
        if content is None:
            return None
        digest_fd(fd, key)
        os.close(fd)
        return content
    from rlm_tui.sandbox.worker import parquet

    try:
        table = parquet.ParquetTable(fd, name, key)
    except Exception:  # any parse failure: attached as bytes, said so
        return None
    digest_fd(fd, key)
    bigtext.register(key, table)
    return table


def _gunzip(fd: int, inner: str, key: tuple[str, str], zst: bool = False) -> Any:
    """Decompress, streaming, into an unlinked file in the session folder (the current folder):
    memory stays one buffer whatever the size, and the result is read like any attached file.
    A file that is not gzip is attached as its bytes."""
    import errno
    import gzip
    import shutil
    import tempfile

    ext = ".zst" if zst else ".gz"
    if zst:
        import zstandard

        bad: tuple[type[BaseException], ...] = (zstandard.ZstdError,)
    else:
        bad = (gzip.BadGzipFile,)
    with os.fdopen(fd, "rb") as raw, tempfile.TemporaryFile(dir=".") as out:
        packed = _Hashing(raw)  # the compressed file's digest, taken as it is read
        try:
            if zst:
                _unzstd(zstandard, packed, out)
            else:
                with gzip.GzipFile(fileobj=packed) as stream:
                    shutil.copyfileobj(stream, out, 1 << 20)
            packed.finish()
        except bad:
            raw.seek(0)
            data = raw.read()
            h = hasher()
            h.update(data)
            DIGESTS[key] = h.hexdigest()
            return data
        except EOFError:
            raise OSError(f"{inner}{ext} is truncated (the compressed stream ends early)") from None
        except OSError as exc:
            if exc.errno == errno.EFBIG:
                raise OSError(f"{inner}{ext} decompresses to more than this REPL's scratch limit") from None
            raise
        out.flush()
        copy = os.dup(out.fileno())
    content = load_fd(copy, inner, key)
    DIGESTS[key] = packed.hexdigest  # the file attached is the compressed one
    return content


def _unzstd(zstandard: Any, packed: Any, out: Any) -> None:
    """Decompress every frame of a .zst stream into ``out``, one buffer at a time; a stream that
    ends inside a frame is truncated (EOFError, as gzip says it)."""
    decompressor = zstandard.ZstdDecompressor()
    dobj, started = decompressor.decompressobj(), False
    while chunk := packed.read(1 << 20):
        while chunk:
            started = True
            out.write(dobj.decompress(chunk))
            chunk = dobj.unused_data if dobj.eof else b""
            if dobj.eof:
                dobj, started = decompressor.decompressobj(), bool(chunk)
    if started and not dobj.eof:
        raise EOFError


class _Hashing:
    """A file object that hashes what is read through it (gzip reads it once, front to back)."""

    def __init__(self, raw: Any) -> None:
        self._raw, self._h, self.hexdigest = raw, hasher(), ""

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._h.update(data)
        return data

    def finish(self) -> None:
        self._h.update(self._raw.read())  # anything after the gzip stream still counts
        self.hexdigest = self._h.hexdigest()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def receive(sock: socket.socket, load: int, kind: str, count: int, name: str = "") -> Any:
    """The ``count`` entries of load number ``load``, as the host sends them: batches of
    [name, error] pairs with one descriptor per entry that has no error. Batches of another
    load (one abandoned by a failed request) are closed and skipped."""
    out: dict[str, Any] = {}
    seen = 0
    while seen < count:
        data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 256)
        if not data:
            raise EOFError("the host closed the files channel")
        batch = json.loads(data)
        if batch.get("load") != load:
            for fd in fds:
                os.close(fd)
            continue
        it = iter(fds)
        for entry, error in batch["entries"]:
            seen += 1
            key = (name, entry if kind == "dir" else "")
            if error:
                out[entry] = f"<unreadable: {error}>"
                continue
            try:  # one bad file (a truncated .gz) does not take the others down with it
                out[entry] = load_fd(next(it), entry, key)
            except OSError as exc:
                out[entry] = f"<unreadable: {exc.strerror if exc.filename else exc}>"
    if kind == "file":
        (content,) = out.values()
        if isinstance(content, str) and content.startswith("<unreadable: "):
            raise OSError(content[1:-1])
        return content
    return out


def describe_content(name: str, content: Any) -> str:
    """What the model is told about an attached file or folder: its shape, not its text."""
    if isinstance(content, dict):
        return f"folder {name!r}: {len(content):,} files"
    if isinstance(content, bytes):
        lib = next((lib for ext, lib in NOT_INSTALLED.items() if name.lower().endswith(ext)), None)
        note = f" ({lib} is not installed here, so it is attached as bytes)" if lib else ""
        if not note and name.lower().endswith((".pdf", ".parquet")):
            note = " (it could not be parsed, so it is attached as bytes)"
        return f"binary file {name!r}: {len(content):,} bytes{note}"
    describe = getattr(type(content), "describe", None)
    if describe is not None and type(content).__module__.startswith("rlm_tui.sandbox.worker."):
        return describe(content)
    if isinstance(content, bigtext.BigText):
        return (
            f"large file {name!r}: {len(content):,} chars, {content.lines_count:,} lines, read from disk on "
            "demand (a BigText: slicing returns str; .find/.count/in, .search/.finditer/.findall(regex), "
            ".lines(), .chunks(n); re.search/findall(p, context) work too)"
        )
    if isinstance(content, tables.Table):
        return (
            f"table {name!r} ({content.kind}, {content.nbytes:,} bytes): iterate for rows, .columns, "
            "len(), .head(n), .filter(fn, col=value), .column(name), .text for the raw text"
        )
    lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
    return f"file {name!r}: {len(content):,} chars, {lines:,} lines"


def describe_files(files: dict[str, Any]) -> str:
    parts = [describe_content(name, content) for name, content in files.items()]
    text = "; ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"
